package data

import (
	"fmt"
	"sort"
)

// Stats measure a dataset against the maximum length: what the user should know before training.
type Stats struct {
	Rows      int `json:"rows"`     // rows in the file, good and bad
	BadRows   int `json:"bad_rows"` // rows that could not be used
	Samples   int `json:"samples"`  // samples kept
	NoTargets int `json:"no_targets"`

	MaxLength      int     `json:"max_length"`
	Tokens         int     `json:"tokens"`           // tokens of the samples, after truncation
	TokensPerEpoch int     `json:"tokens_per_epoch"` // targets counted in the loss in one epoch
	Truncated      int     `json:"truncated"`        // samples cut to MaxLength
	TruncatedShare float64 `json:"truncated_share"`

	Lengths   LengthSummary `json:"lengths"`   // before truncation
	Histogram []LengthBin   `json:"histogram"` // before truncation, the last bin beyond MaxLength

	PackedSequences   int     `json:"packed_sequences"`   // sequences of MaxLength tokens with packing
	PackingEfficiency float64 `json:"packing_efficiency"` // tokens / (PackedSequences · MaxLength)
	PaddedEfficiency  float64 `json:"padded_efficiency"`  // tokens / (Samples · MaxLength), one sample per sequence

	// Merged counts answers whose first token straddles the prompt and the answer (the prompt's
	// tokens alone are not a prefix of the whole text's); that token is trained on.
	Merged int `json:"merged_boundaries"`
	// Untrained counts assistant turns left untrained because the chat template renders them
	// differently once the conversation goes on.
	Untrained int `json:"untrained_turns"`
}

// LengthSummary describes sample lengths in tokens.
type LengthSummary struct {
	Min    int     `json:"min"`
	Mean   float64 `json:"mean"`
	Median int     `json:"median"`
	P95    int     `json:"p95"`
	Max    int     `json:"max"`
}

// LengthBin counts samples of From to To tokens; To is 0 for the bin beyond the maximum length.
type LengthBin struct {
	From  int `json:"from"`
	To    int `json:"to,omitempty"`
	Count int `json:"count"`
}

// Label reads "1–256" or "> 2048".
func (b LengthBin) Label() string {
	if b.To == 0 {
		return fmt.Sprintf("> %d", b.From-1)
	}
	return fmt.Sprintf("%d–%d", b.From, b.To)
}

// histogramBins is how many equal bins divide 1..MaxLength.
const histogramBins = 8

// measure fills the length, truncation and packing figures of samples already truncated to
// maxLength (Sample.Length keeps the length before).
func (s *Stats) measure(samples []Sample, maxLength int) {
	s.Samples, s.MaxLength = len(samples), maxLength
	lengths := make([]int, len(samples))
	packed := make([]int, len(samples))
	total := 0
	for i := range samples {
		sm := &samples[i]
		lengths[i], packed[i] = sm.Length, len(sm.IDs)
		total += sm.Length
		s.Tokens += len(sm.IDs)
		s.TokensPerEpoch += sm.Trained()
		if sm.Length > len(sm.IDs) {
			s.Truncated++
		}
	}
	s.Histogram = histogram(lengths, maxLength)
	if len(samples) == 0 {
		return
	}
	s.TruncatedShare = float64(s.Truncated) / float64(len(samples))
	s.Lengths = summarize(lengths, total)
	s.PackedSequences = len(packSequences(packed, maxLength))
	s.PackingEfficiency = float64(s.Tokens) / float64(s.PackedSequences*maxLength)
	s.PaddedEfficiency = float64(s.Tokens) / float64(len(samples)*maxLength)
}

func summarize(lengths []int, total int) LengthSummary {
	sorted := append([]int(nil), lengths...)
	sort.Ints(sorted)
	n := len(sorted)
	return LengthSummary{
		Min: sorted[0], Max: sorted[n-1], Median: sorted[(n-1)/2],
		P95:  sorted[min(n-1, (95*n+99)/100-1)],
		Mean: float64(total) / float64(n),
	}
}

// histogram counts lengths in histogramBins equal bins of 1..maxLength and one beyond it.
func histogram(lengths []int, maxLength int) []LengthBin {
	width := (maxLength + histogramBins - 1) / histogramBins
	var bins []LengthBin
	for from := 1; from <= maxLength; from += width {
		bins = append(bins, LengthBin{From: from, To: min(from+width-1, maxLength)})
	}
	bins = append(bins, LengthBin{From: maxLength + 1})
	for _, n := range lengths {
		i := len(bins) - 1
		if n <= maxLength {
			i = max(n-1, 0) / width
		}
		bins[i].Count++
	}
	return bins
}

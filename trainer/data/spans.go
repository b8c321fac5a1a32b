package data

// Span is a run of a sample's tokens decoded to text, all trained on or all not.
type Span struct {
	Text    string `json:"text"`
	Trained bool   `json:"trained"`
}

// Spans decodes a sample run by run, special tokens included, to show which part is trained on.
// A character whose bytes straddle two runs shows as U+FFFD on both sides.
func (s *Sample) Spans(tok Tokenizer) []Span {
	var spans []Span
	start := 0
	for i := 1; i <= len(s.IDs); i++ {
		if i < len(s.IDs) && (s.Labels[i] >= 0) == (s.Labels[start] >= 0) {
			continue
		}
		spans = append(spans, Span{Text: tok.Decode(s.IDs[start:i], false), Trained: s.Labels[start] >= 0})
		start = i
	}
	return spans
}

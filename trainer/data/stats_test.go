package data

import (
	"math"
	"reflect"
	"testing"
)

// TestStats_Measure ensures lengths are summarized before truncation, the histogram bins them
// against the max length with one bin beyond, and the packing figures follow the packer.
func TestStats_Measure(t *testing.T) {
	mk := func(length, kept int) Sample {
		s := sample(length, 0, make([]int32, kept)...)
		s.Length = length
		return s
	}
	samples := []Sample{mk(1, 1), mk(3, 3), mk(4, 4), mk(5, 5), mk(8, 8), mk(12, 8), mk(20, 8)}
	var s Stats
	s.measure(samples, 8)
	wantBins := []LengthBin{{1, 1, 1}, {2, 2, 0}, {3, 3, 1}, {4, 4, 1}, {5, 5, 1}, {6, 6, 0}, {7, 7, 0}, {8, 8, 1}, {9, 0, 2}}
	if !reflect.DeepEqual(s.Histogram, wantBins) {
		t.Errorf("histogram %v", s.Histogram)
	}
	if s.Truncated != 2 || math.Abs(s.TruncatedShare-2.0/7) > 1e-12 {
		t.Errorf("truncated %d (%v)", s.Truncated, s.TruncatedShare)
	}
	if want := (LengthSummary{Min: 1, Mean: 53.0 / 7, Median: 5, P95: 20, Max: 20}); s.Lengths != want {
		t.Errorf("lengths %+v, want %+v", s.Lengths, want)
	}
	// 37 tokens: 8 | 8 | 8 | 5+3 | 4+1 → five sequences of 8
	if s.Tokens != 37 || s.PackedSequences != 5 || s.PackingEfficiency != 37.0/40 || s.PaddedEfficiency != 37.0/56 {
		t.Errorf("tokens %d, packed %d, efficiency %v, padded %v", s.Tokens, s.PackedSequences, s.PackingEfficiency, s.PaddedEfficiency)
	}
	if s.TokensPerEpoch != 37-7 {
		t.Errorf("tokens per epoch %d, want 30 (every token but each sample's first)", s.TokensPerEpoch)
	}
}

// TestHistogram_Bins ensures the bins cover 1..max length in equal widths, the last one shorter.
func TestHistogram_Bins(t *testing.T) {
	bins := histogram([]int{1, 256, 257, 2048, 2049, 9999}, 2048)
	if len(bins) != 9 || bins[0] != (LengthBin{1, 256, 2}) || bins[1] != (LengthBin{257, 512, 1}) ||
		bins[7] != (LengthBin{1793, 2048, 1}) || bins[8] != (LengthBin{2049, 0, 2}) {
		t.Errorf("bins %v", bins)
	}
	if bins[0].Label() != "1–256" || bins[8].Label() != "> 2048" {
		t.Errorf("labels %q %q", bins[0].Label(), bins[8].Label())
	}
	if b := histogram(nil, 5); len(b) != 6 || b[4] != (LengthBin{5, 5, 0}) {
		t.Errorf("max length 5: %v", b)
	}
}

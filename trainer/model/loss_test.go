package model

import "testing"

// TestLossChunkRows_LogitsNeverWhole ensures the loss head holds about one hidden activation's worth
// of logits at a time, and that its chunks cover every row once.
func TestLossChunkRows_LogitsNeverWhole(t *testing.T) {
	small := Config{VocabSize: 100, HiddenSize: 256}
	for _, c := range []struct {
		cfg        *Config
		n, rows    int
		wantChunks int
	}{
		{&llama3, 2048, 64, 32}, // 128,256 words over 4,096 channels: 32 chunks
		{&llama3, 2047, 64, 32},
		{&llama3, 5, 1, 5},
		{&small, 300, 300, 1}, // V ≤ C: all rows at once
	} {
		if got := c.cfg.LossChunkRows(c.n); got != c.rows {
			t.Errorf("V %d, C %d, n %d: %d rows a chunk, want %d", c.cfg.VocabSize, c.cfg.HiddenSize, c.n, got, c.rows)
		}
		m := &Model{Config: c.cfg}
		seen, chunks := 0, 0
		m.lossChunks(c.n, func(r0, rows int) {
			if r0 != seen || rows < 1 || rows > c.rows {
				t.Errorf("n %d: chunk [%d, +%d) after %d rows", c.n, r0, rows, seen)
			}
			seen, chunks = r0+rows, chunks+1
		})
		if seen != c.n || chunks != c.wantChunks {
			t.Errorf("n %d: chunks covered %d rows in %d chunks, want %d in %d", c.n, seen, chunks, c.n, c.wantChunks)
		}
	}
}

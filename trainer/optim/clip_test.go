package optim

import (
	"math"
	"testing"
)

// TestClipGradNorm_MatchesTorch ensures the norm and the clipped gradients match
// torch.nn.utils.clip_grad_norm_ (float64) for a max_norm below and above the norm, on three
// tensors laid out in one arena.
func TestClipGradNorm_MatchesTorch(t *testing.T) {
	g := loadAdamWGolden(t).Clip
	var flat []float64
	for _, x := range g.Grads {
		flat = append(flat, x...)
	}
	be := backends[1].new()
	for _, c := range g.Cases {
		grads := upload(be, flat)
		norm := ClipGradNorm(be, grads, c.MaxNorm)
		if math.Abs(norm-c.Norm) > 1e-14*c.Norm {
			t.Errorf("max_norm %v: norm %v, torch %v", c.MaxNorm, norm, c.Norm)
		}
		var want []float64
		for _, x := range c.Clipped {
			want = append(want, x...)
		}
		if err := relError(download(be, grads), want); err > 1e-14 {
			t.Errorf("max_norm %v: clipped gradients ‖Δ‖/‖ref‖ = %.3g", c.MaxNorm, err)
		}
	}
}

// TestClipGradNorm_Cases ensures the exact cases: a 3-4 gradient has norm 5; gradients under the
// limit, with the limit off (0 or negative) and with a NaN are left bit for bit as they were.
func TestClipGradNorm_Cases(t *testing.T) {
	for _, b := range backends {
		be := b.new()
		for _, c := range []struct {
			grads   []float64
			maxNorm float64
			norm    float64
			want    []float64
		}{
			{[]float64{3, 4}, 10, 5, []float64{3, 4}},
			{[]float64{3, 4}, 0, 5, []float64{3, 4}},
			{[]float64{3, 4}, -1, 5, []float64{3, 4}},
			{[]float64{3, 4}, 2.5, 5, []float64{3 * 2.5 / (5 + 1e-6), 4 * 2.5 / (5 + 1e-6)}},
			{[]float64{3, math.NaN()}, 1, math.NaN(), []float64{3, math.NaN()}},
		} {
			grads := upload(be, c.grads)
			norm := ClipGradNorm(be, grads, c.maxNorm)
			if norm != c.norm && !(math.IsNaN(norm) && math.IsNaN(c.norm)) {
				t.Errorf("%s %v max %v: norm %v, want %v", b.name, c.grads, c.maxNorm, norm, c.norm)
			}
			got := download(be, grads)
			for i := range got {
				want := c.want[i]
				if b.name == "float32" {
					want = float64(float32(c.grads[i]) * float32(c.want[i]/c.grads[i]))
				}
				if got[i] != want && !(math.IsNaN(got[i]) && math.IsNaN(want)) {
					t.Errorf("%s %v max %v: gradient %d = %v, want %v", b.name, c.grads, c.maxNorm, i, got[i], want)
				}
			}
		}
	}
}

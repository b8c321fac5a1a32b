package backendtest_test

import (
	"math"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
)

// Mistakes in the optimizer ops, made by wrapping the reference, for TestRun_CatchesMistakes.
func init() {
	mistakes["sum-squares-in-float32"] = "SumSquares"
	mistakes["adamw-decay-after-step"] = "AdamWStep"
	mistakes["adamw-ignores-eps"] = "AdamWStep"
	mistakes["adamw8bit-decay-before-step"] = "AdamW8bitStep"
	mistakes["adamw8bit-steps-non-finite"] = "AdamW8bitStep"
	mistakes["adamw8bit-keeps-skipped-states"] = "AdamW8bitStep"
}

func (b broken) SumSquares(t backend.Tensor) float64 {
	if b.mistake != "sum-squares-in-float32" {
		return b.Backend.SumSquares(t)
	}
	x := make([]float64, t.Len())
	b.Download(x, t)
	var s float32
	for _, v := range x {
		s += float32(v) * float32(v)
	}
	return float64(s)
}

// decay multiplies params by 1 − lr·wd.
func (b broken) decay(params backend.Tensor, h backend.AdamW) {
	b.Scale(params, 1-h.LR*h.WeightDecay)
}

func (b broken) AdamWStep(params, grads, m, v backend.Tensor, h backend.AdamW) {
	switch b.mistake {
	case "adamw-decay-after-step":
		wd := h.WeightDecay
		h.WeightDecay = 0
		b.Backend.AdamWStep(params, grads, m, v, h)
		h.WeightDecay = wd
		b.decay(params, h)
		return
	case "adamw-ignores-eps":
		h.Eps = 0
	}
	b.Backend.AdamWStep(params, grads, m, v, h)
}

func (b broken) AdamW8bitStep(params, grads backend.Tensor, c1, c2 backend.Bytes, absmax1, absmax2 backend.Tensor, h backend.AdamW) {
	g := make([]float64, grads.Len())
	b.Download(g, grads)
	switch b.mistake {
	case "adamw8bit-decay-before-step":
		b.decay(params, h)
		h.WeightDecay = 0
	case "adamw8bit-steps-non-finite":
		for i, x := range g {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				g[i] = 0
			}
		}
		grads = b.New(len(g))
		b.Upload(grads, g)
	case "adamw8bit-keeps-skipped-states":
		before1, before2 := make([]byte, c1.Len()), make([]byte, c2.Len())
		b.DownloadBytes(before1, c1)
		b.DownloadBytes(before2, c2)
		b.Backend.AdamW8bitStep(params, grads, c1, c2, absmax1, absmax2, h)
		after1, after2 := make([]byte, c1.Len()), make([]byte, c2.Len())
		b.DownloadBytes(after1, c1)
		b.DownloadBytes(after2, c2)
		for i, x := range g {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				after1[i], after2[i] = before1[i], before2[i]
			}
		}
		b.UploadBytes(c1, after1)
		b.UploadBytes(c2, after2)
		return
	}
	b.Backend.AdamW8bitStep(params, grads, c1, c2, absmax1, absmax2, h)
}

package backendtest_test

import (
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
	"github.com/qlora-studio/qlora-studio/trainer/backend/backendtest"
	"github.com/qlora-studio/qlora-studio/trainer/backend/cpu"
)

// Mistakes in the full-training ops (backend.FullTrainer), for TestRun_CatchesMistakes. The
// wrapper implements the capability by handing every call to the reference.
func init() {
	mistakes["embedding-backward-last-id-wins"] = "FullTrainer"
	mistakes["embedding-backward-overwrites"] = "FullTrainer"
	mistakes["rmsnorm-weight-backward-no-rstd"] = "FullTrainer"
	mistakes["bias-backward-first-row-only"] = "FullTrainer"
}

func (b broken) full() backend.FullTrainer { return b.Backend.(backend.FullTrainer) }

func (b broken) EmbeddingBackward(dtable, dout backend.Tensor, ids []int32, c int) {
	switch b.mistake {
	case "embedding-backward-last-id-wins": // a scatter that stores instead of adding
		table := make([]float64, dtable.Len())
		b.Download(table, dtable)
		rows := make([]float64, dout.Len())
		b.Download(rows, dout)
		for i, id := range ids {
			copy(table[int(id)*c:(int(id)+1)*c], rows[i*c:(i+1)*c])
		}
		b.Upload(dtable, table)
		return
	case "embedding-backward-overwrites":
		b.Zero(dtable)
	}
	b.full().EmbeddingBackward(dtable, dout, ids, c)
}

func (b broken) RMSNormWeightBackward(dweight, dout, x, rstd backend.Tensor, n, c int) {
	if b.mistake == "rmsnorm-weight-backward-no-rstd" {
		ones := make([]float64, n)
		for i := range ones {
			ones[i] = 1
		}
		rstd = b.NewFP32(n)
		b.Upload(rstd, ones)
	}
	b.full().RMSNormWeightBackward(dweight, dout, x, rstd, n, c)
}

func (b broken) AddBiasBackward(dbias, dout backend.Tensor, n, c int) {
	if b.mistake == "bias-backward-first-row-only" && n > 1 {
		b.full().AddBiasBackward(dbias, b.View(dout, 0, c), 1, c)
		return
	}
	b.full().AddBiasBackward(dbias, dout, n, c)
}

// loraOnly is a backend without the full-training capability, as the CUDA backend is.
type loraOnly struct{ backend.Backend }

// TestRun_LoRAOnlyBackend ensures the suite skips the FullTrainer group, rather than failing, for
// a backend that trains LoRA only.
func TestRun_LoRAOnlyBackend(t *testing.T) {
	if _, ok := any(loraOnly{cpu.New[float64]()}).(backend.FullTrainer); ok {
		t.Fatal("the wrapper should hide the capability")
	}
	backendtest.Run(t, func() backend.Backend { return loraOnly{cpu.New[float64]()} }, 1e-12)
}

package plan

import (
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/internal/tinymodel"
	"github.com/qlora-studio/qlora-studio/trainer/backend/cpu"
	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/optim"
)

// TestMake_FullTrainingCPUExact ensures that for full-parameter training the planned weights,
// gradients, optimizer states and activations are exactly what the CPU backend allocates, for a
// tied qwen2 (biases) and an untied llama, with 32- and 8-bit optimizers, with and without
// checkpointing.
func TestMake_FullTrainingCPUExact(t *testing.T) {
	for _, c := range []struct {
		shape         tinymodel.Shape
		optim         string
		checkpointing bool
	}{
		{tinymodel.Shape{Arch: "qwen2", Vocab: 300, Hidden: 128, Intermediate: 160, Layers: 2, Heads: 4, KVHeads: 2, Tied: true}, "adamw_32bit", false},
		{tinymodel.Shape{Arch: "llama", Vocab: 300, Hidden: 64, Intermediate: 96, Layers: 2, Heads: 4, KVHeads: 1}, "adamw_8bit", true},
	} {
		dir := t.TempDir()
		if err := tinymodel.Write(dir, c.shape, 1); err != nil {
			t.Fatal(err)
		}
		req := Request{Backend: CPU, MicroBatchSize: 2, SeqLen: 24, Optim: c.optim, Checkpointing: c.checkpointing, FullTraining: true}
		checkFullCPUExact(t, dir, req)
	}
}

func checkFullCPUExact(t *testing.T, dir string, req Request) {
	t.Helper()
	be := cpu.New[float32]()
	allocated := func() int64 { return be.(interface{ AllocatedBytes() int64 }).AllocatedBytes() }
	m, err := model.Load(be, dir, model.Options{Base: model.BaseFull, FullTraining: true, GradientCheckpointing: req.Checkpointing})
	if err != nil {
		t.Fatal(err)
	}
	req.Model = m.Config
	p, err := Make(req)
	if err != nil {
		t.Fatal(err)
	}
	for _, frozen := range []string{"base in NF4 (4-bit codes)", "base projections at 16 bits", "frozen embeddings, norms, lm_head, biases", "LoRA adapters (fp32)"} {
		for _, c := range p.Components {
			if c.Name == frozen {
				t.Errorf("full training plans %q", frozen)
			}
		}
	}
	want := component(t, p, "weights (fp32, all trained)").Bytes + component(t, p, "weight gradients (fp32)").Bytes
	if got := allocated(); got != want {
		t.Errorf("%s: the model allocates %d bytes, the plan says %d", req.Optim, got, want)
	}
	before := allocated()
	var segments []optim.Segment
	for _, pt := range m.ParamTensors() {
		segments = append(segments, optim.Segment{Name: pt.Name, Offset: pt.Offset, Len: pt.Len})
	}
	if _, err := optim.New(req.Optim, be, m.Params(), m.Grads(), segments, optim.DefaultHyper()); err != nil {
		t.Fatal(err)
	}
	if got, want := allocated()-before, component(t, p, "optimizer states ("+req.Optim+")").Bytes; got != want {
		t.Errorf("%s: the optimizer allocates %d bytes, the plan says %d", req.Optim, got, want)
	}
	before = allocated()
	b := model.Sequence(make([]int32, req.MicroBatchSize*req.SeqLen))
	b.B, b.T = req.MicroBatchSize, req.SeqLen
	if _, _, err := m.Forward(b, true, 0); err != nil {
		t.Fatal(err)
	}
	m.Backward(1)
	acts := component(t, p, "activations and backward buffers").Bytes + component(t, p, "logits and their gradient").Bytes
	if got := allocated() - before; got != acts {
		t.Errorf("%s: a step allocates %d bytes of activations, the plan says %d", req.Optim, got, acts)
	}
}

// TestMake_FullTrainingRefusals ensures full-parameter training is refused in NF4 and on CUDA.
func TestMake_FullTrainingRefusals(t *testing.T) {
	r := Request{Model: loadConfig(t, "llama-3.1-8b.json"), Backend: CPU, MicroBatchSize: 1, SeqLen: 16, Optim: "adamw_32bit", FullTraining: true}
	if _, err := Make(r); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		edit func(*Request)
		want string
	}{
		{func(r *Request) { r.Quantized, r.Blocksize = true, 64 }, "not NF4"},
		{func(r *Request) { r.Backend = CUDA }, "CUDA backend trains LoRA only"},
	} {
		bad := r
		c.edit(&bad)
		if _, err := Make(bad); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
}

package plan

import (
	"testing"

	"github.com/qlora-studio/qlora-studio/internal/tinymodel"
	"github.com/qlora-studio/qlora-studio/trainer/backend/cpu"
	"github.com/qlora-studio/qlora-studio/trainer/lora"
	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/optim"
)

// TestMake_CPUExact ensures that on the CPU backend the planned bytes of the base, the frozen
// weights, the adapters, their gradients, the optimizer states and the activations are exactly what
// the backend allocates, for 32- and 8-bit optimizers, with and without checkpointing.
func TestMake_CPUExact(t *testing.T) {
	shape := tinymodel.Shape{Arch: "llama", Vocab: 300, Hidden: 256, Intermediate: 320, Layers: 2, Heads: 4, KVHeads: 2}
	dir := t.TempDir()
	if err := tinymodel.Write(dir, shape, 1); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		optim         string
		checkpointing bool
	}{{"adamw_32bit", false}, {"adamw_8bit", true}} {
		req := Request{Backend: CPU, MicroBatchSize: 2, SeqLen: 24, LoRARank: 16, LoRATargets: []string{"q_proj", "v_proj", "down_proj"},
			LoRADropout: true, Quantized: true, Blocksize: 64, DoubleQuant: true, Optim: c.optim, Checkpointing: c.checkpointing}
		checkCPUExact(t, dir, req)
	}
}

func checkCPUExact(t *testing.T, dir string, req Request) {
	t.Helper()
	be := cpu.New[float32]()
	allocated := func() int64 { return be.(interface{ AllocatedBytes() int64 }).AllocatedBytes() }
	ac := lora.DefaultConfig()
	ac.R, ac.LoraAlpha, ac.LoraDropout, ac.TargetModules = req.LoRARank, 32, 0.1, lora.Strings{List: req.LoRATargets}
	m, err := model.Load(be, dir, model.Options{Base: model.BaseNF4, Blocksize: 64, DoubleQuant: true, Adapter: ac, GradientCheckpointing: req.Checkpointing})
	if err != nil {
		t.Fatal(err)
	}
	req.Model = m.Config
	p, err := Make(req)
	if err != nil {
		t.Fatal(err)
	}
	sum := func(names ...string) int64 {
		var n int64
		for _, name := range names {
			n += component(t, p, name).Bytes
		}
		return n
	}
	want := sum("base in NF4 (4-bit codes)", "NF4 quantization constants", "frozen embeddings, norms, lm_head, biases",
		"LoRA adapters (fp32)", "adapter gradients (fp32)")
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
	if got, want := allocated()-before, sum("optimizer states ("+req.Optim+")"); got != want {
		t.Errorf("%s: the optimizer allocates %d bytes, the plan says %d", req.Optim, got, want)
	}
	before = allocated()
	ids := make([]int32, req.MicroBatchSize*req.SeqLen)
	b := model.Sequence(ids)
	b.B, b.T = req.MicroBatchSize, req.SeqLen
	if _, _, err := m.Forward(b, true, 0); err != nil {
		t.Fatal(err)
	}
	if got, want := allocated()-before, sum("activations and backward buffers", "logits and their gradient"); got != want {
		t.Errorf("%s: a step allocates %d bytes of activations, the plan says %d", req.Optim, got, want)
	}
}

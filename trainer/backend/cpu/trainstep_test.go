package cpu_test

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/qlora-studio/qlora-studio/internal/tinymodel"
	"github.com/qlora-studio/qlora-studio/trainer/backend/cpu"
	"github.com/qlora-studio/qlora-studio/trainer/lora"
	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/optim"
)

// TestTrainingStep_DoesNotAllocate ensures that, once warm, a whole QLoRA training step on the CPU
// backend (forward, backward, clipping and AdamW, NF4 base, LoRA with dropout on all seven
// projections) allocates nothing, on one thread and on several.
func TestTrainingStep_DoesNotAllocate(t *testing.T) {
	dir := t.TempDir()
	shape := tinymodel.Tiny
	if err := tinymodel.Write(dir, shape, 1); err != nil {
		t.Fatal(err)
	}
	ac := lora.DefaultConfig()
	ac.R, ac.LoraAlpha, ac.LoraDropout = 8, 16, 0.1
	ac.TargetModules = lora.Strings{List: []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}}
	be := cpu.New[float32]()
	m, err := model.Load(be, dir, model.Options{Base: model.BaseNF4, Blocksize: 64, DoubleQuant: true, Adapter: ac, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	var segments []optim.Segment
	for _, p := range m.ParamTensors() {
		segments = append(segments, optim.Segment{Name: p.Name, Offset: p.Offset, Len: p.Len})
	}
	opt, err := optim.New(optim.AdamW32bit, be, m.Params(), m.Grads(), segments, optim.DefaultHyper())
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int32, 40)
	rng := rand.New(rand.NewPCG(3, 3))
	for i := range ids {
		ids[i] = int32(rng.IntN(shape.Vocab))
	}
	batch := model.Sequence(ids)
	step := uint64(0)
	train := func() {
		step++
		_, n, err := m.Forward(batch, true, step)
		if err != nil {
			t.Fatal(err)
		}
		m.ZeroGrads()
		m.Backward(1 / float64(n))
		optim.ClipGradNorm(be, m.Grads(), 1)
		opt.Step(1e-4)
	}
	train()
	if allocs := testing.AllocsPerRun(5, train); allocs != 0 { // on one thread
		t.Errorf("%v allocations per step on 1 thread", allocs)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	train() // grow the scratch for 4 workers
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const steps = 10
	for range steps {
		train()
	}
	runtime.ReadMemStats(&after)
	if allocs := after.Mallocs - before.Mallocs; allocs >= steps { // the runtime's own may show
		t.Errorf("%d allocations in %d steps on 4 threads", allocs, steps)
	}
}

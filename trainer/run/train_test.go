package run

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/internal/fixtures"
	"github.com/qlora-studio/qlora-studio/trainer/backend"
	"github.com/qlora-studio/qlora-studio/trainer/backend/cpu"
	"github.com/qlora-studio/qlora-studio/trainer/lora"
)

// tinyModelDir writes the tiny chat model (random weights, a real byte-level tokenizer).
func tinyModelDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := fixtures.ChatModel(dir, 5); err != nil {
		t.Fatal(err)
	}
	return dir
}

// capitalsData writes rows of the capitals dataset.
func capitalsData(t *testing.T, rows int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "capitals.jsonl")
	if err := fixtures.Capitals(path, rows); err != nil {
		t.Fatal(err)
	}
	return path
}

// trainTiny runs a fine-tune of the tiny model with the given overrides.
func trainTiny(t *testing.T, be backend.Backend, modelDir, dataPath string, sets ...string) (string, Result) {
	t.Helper()
	base := []string{"base_model=" + modelDir, "dataset=" + dataPath, "max_seq_length=64", "lora_r=4", "lora_alpha=8",
		"lora_dropout=0", "gradient_checkpointing=false", "chat_template=chatml", "warmup_steps=0"}
	cfg, err := Layers{Sets: append(base, sets...)}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "run")
	res, err := Train(context.Background(), cfg, Options{Dir: dir, Backend: be})
	if err != nil {
		t.Fatal(err)
	}
	return dir, res
}

func stepLosses(t *testing.T, dir string) []float64 {
	t.Helper()
	events, err := ReadEvents(filepath.Join(dir, EventsFile))
	if err != nil {
		t.Fatal(err)
	}
	var losses []float64
	for _, ev := range events {
		if ev.Type == EventStep {
			losses = append(losses, *ev.Loss)
		}
	}
	return losses
}

// TestTrain_LossFalls ensures a run learns a fixed answer format: the loss of the last steps is a
// fraction of the first, the run ends finished with a final checkpoint, and its events are whole.
func TestTrain_LossFalls(t *testing.T) {
	dir, res := trainTiny(t, cpu.New[float32](), tinyModelDir(t), capitalsData(t, 64),
		"max_steps=40", "learning_rate=0.02", "micro_batch_size=4", "lr_scheduler_type=constant", "val_set_size=8", "eval_steps=20")
	if res.Status != Finished || res.Step != 40 {
		t.Fatalf("result %+v", res)
	}
	losses := stepLosses(t, dir)
	if len(losses) != 40 {
		t.Fatalf("%d step events", len(losses))
	}
	first, last := mean(losses[:5]), mean(losses[35:])
	t.Logf("mean loss %.3f over the first 5 steps, %.3f over the last 5", first, last)
	if !(last < 0.5*first) {
		t.Errorf("loss %.3f at the start, %.3f at the end: not learning", first, last)
	}
	if _, err := lora.Load(res.Checkpoint); err != nil {
		t.Errorf("final checkpoint: %v", err)
	}
	events, _ := ReadEvents(filepath.Join(dir, EventsFile))
	if events[0].Type != EventStarted || events[len(events)-1].Type != EventFinished {
		t.Errorf("events from %s to %s", events[0].Type, events[len(events)-1].Type)
	}
	evals := 0
	for _, ev := range events {
		if ev.Type == EventEval {
			evals++
		}
	}
	if evals != 2 {
		t.Errorf("%d evaluations, want 2", evals)
	}
}

// TestTrain_AccumulationEqualsLargerBatch ensures k micro-batches of gradient accumulation update
// the adapter as one batch k times larger (in float64, up to summation order).
func TestTrain_AccumulationEqualsLargerBatch(t *testing.T) {
	modelDir, data := tinyModelDir(t), capitalsData(t, 8)
	common := []string{"max_steps=2", "shuffle=false", "packing=false", "learning_rate=0.01", "lr_scheduler_type=constant"}
	_, one := trainTiny(t, cpu.New[float64](), modelDir, data, append(common, "micro_batch_size=4", "gradient_accumulation_steps=1")...)
	_, four := trainTiny(t, cpu.New[float64](), modelDir, data, append(common, "micro_batch_size=1", "gradient_accumulation_steps=4")...)
	a, _ := lora.Load(one.Checkpoint)
	b, _ := lora.Load(four.Checkpoint)
	var num, den float64
	for i := range a.Modules {
		for _, pair := range [][2][]float32{{a.Modules[i].A, b.Modules[i].A}, {a.Modules[i].B, b.Modules[i].B}} {
			for j, x := range pair[0] {
				d := float64(x - pair[1][j])
				num, den = num+d*d, den+float64(x)*float64(x)
			}
		}
	}
	if rel := math.Sqrt(num / den); rel > 1e-6 || num == 0 && den == 0 {
		t.Errorf("adapters differ by %.2e (relative)", rel)
	}
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// oomBackend runs out of memory at its first optimizer update, as a GPU backend may mid-run.
type oomBackend struct{ backend.Backend }

type oomError struct{}

func (oomError) Error() string {
	return "out of GPU memory: the plan says 50 GiB; lower max_seq_length"
}
func (oomError) OutOfMemory() bool { return true }

func (oomBackend) AdamWStep(params, grads, m, v backend.Tensor, h backend.AdamW) { panic(oomError{}) }

// TestTrain_OutOfMemoryFails ensures a backend that runs out of memory mid-run ends the run as
// failed with the backend's reason, instead of crashing the process.
func TestTrain_OutOfMemoryFails(t *testing.T) {
	modelDir, data := tinyModelDir(t), capitalsData(t, 8)
	cfg, err := Layers{Sets: []string{"base_model=" + modelDir, "dataset=" + data, "max_steps=3", "max_seq_length=64",
		"lora_r=4", "chat_template=chatml", "gradient_checkpointing=false"}}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "run")
	res, err := Train(context.Background(), cfg, Options{Dir: dir, Backend: oomBackend{cpu.New[float32]()}})
	if err == nil || res.Status != Failed || !strings.Contains(res.Reason, "lower max_seq_length") {
		t.Fatalf("result %+v, error %v", res, err)
	}
	events, _ := ReadEvents(filepath.Join(dir, EventsFile))
	if last := events[len(events)-1]; last.Type != EventFailed || !strings.Contains(last.Reason, "out of GPU memory") {
		t.Errorf("last event %+v", last)
	}
}

// busyBackend reports a fixed GPU utilisation, as the CUDA backend reports NVML's (-1: unknown).
type busyBackend struct {
	backend.Backend
	percent int
}

func (b busyBackend) Utilization() int { return b.percent }

// TestTrain_GPUUtilization ensures each step event carries the backend's GPU utilisation, an idle
// GPU's 0 included, and leaves it out where the backend cannot say (NVML unknown, the CPU).
func TestTrain_GPUUtilization(t *testing.T) {
	modelDir, data := tinyModelDir(t), capitalsData(t, 8)
	for _, c := range []struct {
		be   backend.Backend
		want int // -1: left out
	}{
		{busyBackend{cpu.New[float32](), 0}, 0},
		{busyBackend{cpu.New[float32](), 87}, 87},
		{busyBackend{cpu.New[float32](), -1}, -1},
		{cpu.New[float32](), -1},
	} {
		dir, _ := trainTiny(t, c.be, modelDir, data, "max_steps=2")
		raw, err := os.ReadFile(filepath.Join(dir, EventsFile))
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(raw), `"gpu_util_percent":`); n != 2 && c.want >= 0 || n != 0 && c.want < 0 {
			t.Errorf("%T reporting %d: gpu_util_percent in %d events, want the 2 steps' when known", c.be, c.want, n)
		}
		events, _ := ReadEvents(filepath.Join(dir, EventsFile))
		for _, ev := range events {
			got := -1
			if ev.GPUUtil != nil {
				got = *ev.GPUUtil
			}
			if ev.Type == EventStep && got != c.want {
				t.Errorf("%T: step %d reports %d, want %d", c.be, ev.Step, got, c.want)
			}
		}
	}
}

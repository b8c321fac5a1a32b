package run

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/backend/cpu"
	"github.com/qlora-studio/qlora-studio/trainer/data"
	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/tokenizer"
)

// fullSets are the overrides of a full-parameter training run of the tiny model.
var fullSets = []string{"full_training=true", "load_in_4bit=false", "micro_batch_size=4", "lr_scheduler_type=constant",
	"learning_rate=0.003"}

// TestTrain_FullTraining ensures a full-parameter run trains every weight and learns: the loss
// falls, the started event counts every parameter, and the final checkpoint is a complete model
// folder (config.json in float32, model.safetensors, the base's tokenizer files) that loads as a
// base model and scores the training data better than the base did.
func TestTrain_FullTraining(t *testing.T) {
	modelDir, dataPath := tinyModelDir(t), capitalsData(t, 64)
	dir, res := trainTiny(t, cpu.New[float32](), modelDir, dataPath, append(fullSets, "max_steps=30")...)
	if res.Status != Finished || res.Step != 30 {
		t.Fatalf("result %+v", res)
	}
	losses := stepLosses(t, dir)
	first, last := mean(losses[:5]), mean(losses[25:])
	t.Logf("mean loss %.3f over the first 5 steps, %.3f over the last 5", first, last)
	if !(last < 0.5*first) {
		t.Errorf("loss %.3f at the start, %.3f at the end: not learning", first, last)
	}
	events, _ := ReadEvents(filepath.Join(dir, EventsFile))
	if events[0].Trainable != paramCount(t, modelDir) {
		t.Errorf("started event: %d trainable parameters, the model has %d", events[0].Trainable, paramCount(t, modelDir))
	}
	checkModelFolder(t, res.Checkpoint)
	before, after := modelLoss(t, modelDir, dataPath), modelLoss(t, res.Checkpoint, dataPath)
	t.Logf("loss on the data: %.3f with the base, %.3f with the checkpoint", before, after)
	if !(after < 0.5*before) {
		t.Errorf("the checkpoint scores %.3f, the base %.3f", after, before)
	}
}

func paramCount(t *testing.T, dir string) int64 {
	t.Helper()
	c, err := model.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	return c.ParamCount()
}

// checkModelFolder checks that dir holds a complete float32 model folder and no adapter.
func checkModelFolder(t *testing.T, dir string) {
	t.Helper()
	for _, f := range []string{"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", OptimizerFile, StateFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("checkpoint: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "adapter_config.json")); err == nil {
		t.Error("a full-training checkpoint holds an adapter")
	}
	var cfg map[string]any
	js, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	if err := json.Unmarshal(js, &cfg); err != nil || cfg["torch_dtype"] != "float32" || cfg["model_type"] != "llama" {
		t.Errorf("config.json: %v %v", cfg, err)
	}
}

// modelLoss is the mean loss of the model in dir over the first rows of the capitals data, as the
// training run tokenizes them.
func modelLoss(t *testing.T, dir, dataPath string) float64 {
	t.Helper()
	cfg, err := Layers{Sets: []string{"base_model=" + dir, "dataset=" + dataPath, "max_seq_length=64", "chat_template=chatml",
		"full_training=true", "load_in_4bit=false"}}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	s := &session{cfg: cfg}
	if s.tok, err = tokenizer.Load(dir); err != nil {
		t.Fatal(err)
	}
	if err := s.loadData(); err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(cpu.New[float32](), dir, model.Options{Base: model.BaseFull})
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	var n int
	for i := range 4 {
		l, k, err := m.Forward(s.train.Batch(data.Position{Step: i}), false, 0)
		if err != nil {
			t.Fatal(err)
		}
		sum, n = sum+l, n+k
	}
	return sum / float64(n)
}

// TestResume_FullTrainingExact ensures a full-parameter run stopped after 3 steps and resumed to 6
// ends with the same weights, to the byte, as one that ran 6 steps straight: the checkpoint keeps
// the weights in float32 with the optimizer's states.
func TestResume_FullTrainingExact(t *testing.T) {
	modelDir, dataPath := tinyModelDir(t), capitalsData(t, 32)
	_, straight := trainTiny(t, cpu.New[float32](), modelDir, dataPath, append(fullSets, "max_steps=6")...)
	dir, first := trainTiny(t, cpu.New[float32](), modelDir, dataPath, append(fullSets, "max_steps=3")...)
	if first.Step != 3 {
		t.Fatalf("first part: %+v", first)
	}
	doc, err := ReadDoc(filepath.Join(dir, ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Layers{Docs: []Doc{doc}, Sets: []string{"max_steps=6"}}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	resumed, err := Train(context.Background(), cfg, Options{Dir: dir, Backend: cpu.New[float32](), Resume: true})
	if err != nil || resumed.Step != 6 {
		t.Fatalf("resume: %+v %v", resumed, err)
	}
	a, _ := os.ReadFile(filepath.Join(straight.Checkpoint, "model.safetensors"))
	b, _ := os.ReadFile(filepath.Join(resumed.Checkpoint, "model.safetensors"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Error("the resumed run's weights differ from the straight run's")
	}
}

// TestTrain_FullTrainingRefusals ensures full_training is refused with a 4-bit base and with an
// initial adapter, saying why.
func TestTrain_FullTrainingRefusals(t *testing.T) {
	if _, err := (Layers{Sets: []string{"full_training=true"}}).Resolve(); err == nil || !strings.Contains(err.Error(), "set load_in_4bit: false") {
		t.Errorf("full_training with load_in_4bit: %v", err)
	}
	cfg, err := Layers{Sets: append([]string{"base_model=" + tinyModelDir(t), "dataset=" + capitalsData(t, 8)}, fullSets...)}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	_, err = Train(context.Background(), cfg, Options{Dir: filepath.Join(t.TempDir(), "run"), Backend: cpu.New[float32](), InitAdapter: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "trains the weights, not an adapter") {
		t.Errorf("full_training with an initial adapter: %v", err)
	}
}

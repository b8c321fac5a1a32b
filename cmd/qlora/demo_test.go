package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/internal/democorpus"
	"github.com/qlora-studio/qlora-studio/internal/tinymodel"
	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/run"
	"github.com/qlora-studio/qlora-studio/trainer/tokenizer"
)

const demoModel = "../../assets/demo/model"

// demoScore reads "before  N/M" or "after  N/M" from the demo's output.
func demoScore(t *testing.T, stdout, which string) (int, int) {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s+` + which + `\s+(\d+)/(\d+)`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no %q score in:\n%s", which, stdout)
	}
	right, _ := strconv.Atoi(m[1])
	total, _ := strconv.Atoi(m[2])
	return right, total
}

// TestDemo_Quick_ScoreRises ensures the reduced demo imports the demo model and dataset into a
// fresh library, fine-tunes, and scores clearly better on the held-out questions after than
// before; and that a second run reuses what the first imported.
func TestDemo_Quick_ScoreRises(t *testing.T) {
	lib := filepath.Join(t.TempDir(), "library")
	stdout, stderr, code := qlora(t, "demo", "--library", lib, "--quick")
	if code != 0 {
		t.Fatalf("demo exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	for _, want := range []string{"demo model demo-base: imported", "demo dataset demo-capitals: imported", "finished at step"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	before, n := demoScore(t, stdout, "before")
	after, _ := demoScore(t, stdout, "after")
	if n != demoQuickHeldOut || after < before+n/4 {
		t.Errorf("held-out exact match %d/%d before, %d/%d after: want at least %d more after\n%s", before, n, after, n, n/4, stdout)
	}

	stdout, stderr, code = qlora(t, "demo", "--library", lib, "--steps", "1", "--heldout", "2", "--show", "1")
	if code != 0 {
		t.Fatalf("second demo exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	for _, want := range []string{"demo model demo-base: in the library", "demo dataset demo-capitals: in the library"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("second run's stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "imported") {
		t.Errorf("the second run imported again:\n%s", stderr)
	}
	runs, err := os.ReadDir(filepath.Join(lib, "runs"))
	if err != nil || len(runs) != 2 {
		t.Errorf("library runs: %v %v; want the two demo runs", runs, err)
	}
	var listed []storage.Run
	jsonOf(t, &listed, "runs", "list", "--library", lib)
	for _, r := range listed { // the app's history and run view show these
		if r.Preset != "demo" || r.PlanBytes == 0 {
			t.Errorf("demo run %s recorded with preset %q and a plan of %d bytes", r.Name, r.Preset, r.PlanBytes)
		}
	}
}

// TestDemoModel_ContinuesCorpus ensures the committed demo model loads, has learned the corpus
// (a document it never saw costs it far less than a random model of its shape), and continues a
// corpus prompt greedily with corpus words whose loss is far below the random model's.
func TestDemoModel_ContinuesCorpus(t *testing.T) {
	tok, err := tokenizer.Load(demoModel)
	if err != nil {
		t.Fatal(err)
	}
	demo, err := loadForInference(demoModel, "", model.BaseFull)
	if err != nil {
		t.Fatal(err)
	}
	randomDir := t.TempDir()
	if err := democorpus.InitModel(randomDir, demoModel, tok, shapeOf(demo.Config), 99); err != nil {
		t.Fatal(err)
	}
	random, err := loadForInference(randomDir, "", model.BaseFull)
	if err != nil {
		t.Fatal(err)
	}

	// Documents from another seed than the corpus's: new stories and facts in the corpus's language.
	docs := democorpus.Generate(1234, 3000)
	words := corpusWords()
	var demoLoss, randomLoss float64
	for _, d := range docs {
		ids := tok.Encode(d, true)
		demoLoss += meanLoss(t, demo, ids, 0) / float64(len(docs))
		randomLoss += meanLoss(t, random, ids, 0) / float64(len(docs))
	}
	if demoLoss > 0.2*randomLoss {
		t.Errorf("loss on new corpus documents: demo model %.3f, random model %.3f; want the demo's far lower", demoLoss, randomLoss)
	}

	prompt := "One sunny day, Mia went to the park. She had a"
	ids := tok.Encode(prompt, true)
	cont, err := demo.Generate(ids, model.Sampling{MaxTokens: 24, Stop: run.StopTokens(tok, demo.Config)})
	if err != nil {
		t.Fatal(err)
	}
	text := tok.Decode(cont, true)
	for _, w := range strings.Fields(text) {
		if !words[strings.Trim(w, `.,!?"`)] {
			t.Errorf("continuation %q has %q, not a word of the corpus", text, w)
		}
	}
	full := append(append([]int32{}, ids...), cont...)
	dl, rl := meanLoss(t, demo, full, len(ids)), meanLoss(t, random, full, len(ids))
	if dl > 0.2*rl {
		t.Errorf("continuation %q: loss %.3f under the demo model, %.3f under a random one; want far lower", text, dl, rl)
	}
	t.Logf("loss on new documents %.3f (random %.3f); %q continues %q (loss %.3f, random %.3f)", demoLoss, randomLoss, prompt, text, dl, rl)

	fact, err := demo.Generate(tok.Encode("The capital of Peru is", true), model.Sampling{MaxTokens: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Decode(fact, true); !strings.HasPrefix(got, " Lima") {
		t.Errorf("The capital of Peru is %q; want Lima", got)
	}
}

// meanLoss is the model's mean loss on the tokens of ids after the first from (all when 0): the
// whole sequence's loss less the prefix's, since attention is causal.
func meanLoss(t *testing.T, m *model.Model, ids []int32, from int) float64 {
	t.Helper()
	sum, n, err := m.Forward(model.Sequence(ids), false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if from > 1 {
		s, k, err := m.Forward(model.Sequence(ids[:from]), false, 0)
		if err != nil {
			t.Fatal(err)
		}
		sum, n = sum-s, n-k
	}
	return sum / float64(n)
}

// corpusWords is every word of a corpus sample large enough to hold all of them.
func corpusWords() map[string]bool {
	words := map[string]bool{}
	for _, d := range democorpus.Generate(15, 1<<20) {
		for _, w := range strings.Fields(d) {
			words[strings.Trim(w, `.,!?"`)] = true
		}
	}
	return words
}

// TestDemoRecipe_Reduced runs the demo model's pretraining recipe (scripts/demo-pretrain.sh) at a
// reduced size, and ensures the trained model's validation loss falls well below the unigram
// entropy of the corpus's tokens (it learned context, not only token frequencies) and that the
// model it installs, in bfloat16, loads.
func TestDemoRecipe_Reduced(t *testing.T) {
	out := t.TempDir()
	cmd := exec.Command("bash", "../../scripts/demo-pretrain.sh")
	cmd.Env = append(os.Environ(), "QLORA_LIBRARY="+filepath.Join(out, "library"), "OUT="+out, "QLORA="+qloraBin, "SIZE=300000", "VOCAB=400", "STEPS=60",
		"SEQ=128", "BATCH=4", "LR=0.006", "HIDDEN=64", "INTERMEDIATE=176", "LAYERS=2", "HEADS=4", "KV_HEADS=2", "EVAL=30", "SAVE=30",
		"INSTALL="+filepath.Join(out, "installed"))
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the recipe: %v\n%s", err, b)
	}
	m := regexp.MustCompile(`unigram entropy ([0-9.]+) nats/token`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("the recipe printed no unigram entropy:\n%s", b)
	}
	entropy, _ := strconv.ParseFloat(string(m[1]), 64)
	events, err := run.ReadEvents(filepath.Join(out, "run", run.EventsFile))
	if err != nil {
		t.Fatal(err)
	}
	var evalLoss *float64
	for _, e := range events {
		if e.EvalLoss != nil {
			evalLoss = e.EvalLoss
		}
	}
	if evalLoss == nil {
		t.Fatalf("no evaluation in the run's events:\n%s", b)
	}
	if *evalLoss > 0.7*entropy {
		t.Errorf("validation loss %.3f after pretraining; want well below the unigram entropy %.3f", *evalLoss, entropy)
	}
	t.Logf("validation loss %.3f, unigram entropy %.3f nats/token", *evalLoss, entropy)

	// The installed copy is the demo's form of the model: bfloat16, and it loads.
	installed, err := loadForInference(filepath.Join(out, "installed"), "", model.BaseFull)
	if err != nil {
		t.Fatal(err)
	}
	if installed.Config.TorchDType != "bfloat16" || installed.Config.NumLayers != 2 {
		t.Errorf("installed model: dtype %q, %d layers; want bfloat16, 2", installed.Config.TorchDType, installed.Config.NumLayers)
	}
}

// shapeOf is the tinymodel shape of a loaded model's config.
func shapeOf(c *model.Config) tinymodel.Shape {
	s := democorpus.Shape
	s.Hidden, s.Intermediate, s.Layers, s.Heads, s.KVHeads = c.HiddenSize, c.IntermediateSize, c.NumLayers, c.NumHeads, c.NumKVHeads
	s.Tied = c.TieWordEmbeddings
	return s
}

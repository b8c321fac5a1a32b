package export

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/lora"
	"github.com/qlora-studio/qlora-studio/trainer/run"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// TestFindCheckpoint ensures a run folder gives its best checkpoint when evaluation chose one and
// its last otherwise, a named checkpoint gives itself with the run's losses, and a bare adapter
// folder gives itself with nothing known of a run.
func TestFindCheckpoint(t *testing.T) {
	baseDir := writeBase(t, smallShape)
	ad := randomAdapter(t, baseDir, 4, 8, someTargets, 11)
	evaluated := fakeRun(t, baseDir, ad, 4, 2, 4, 6)
	unevaluated := fakeRun(t, baseDir, ad, 0, 2, 4, 6)
	bare := filepath.Join(t.TempDir(), "adapter")
	if err := lora.Save(bare, ad, safetensors.F32); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path string
		step       int
		best       bool
		run        bool
	}{
		{"run with evaluation", evaluated, 4, true, true},
		{"run without evaluation", unevaluated, 6, false, true},
		{"named checkpoint", run.CheckpointDir(evaluated, 6), 6, false, true},
		{"named best checkpoint", run.CheckpointDir(evaluated, 4), 4, true, true},
		{"bare adapter", bare, 0, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ck, err := FindCheckpoint(c.path)
			if err != nil {
				t.Fatal(err)
			}
			if ck.Step != c.step || ck.Best != c.best || (ck.Run != nil) != c.run {
				t.Errorf("step %d best %v run %v; want %d %v %v", ck.Step, ck.Best, ck.Run != nil, c.step, c.best, c.run)
			}
		})
	}
	ck, _ := FindCheckpoint(evaluated)
	if ck.BestEvalLoss == nil || *ck.BestEvalLoss != 2 || ck.BestStep != 4 ||
		ck.FinalEvalLoss == nil || *ck.FinalEvalLoss != 2.2 || ck.FinalEvalStep != 6 || ck.LastStep != 6 {
		t.Errorf("losses: best %v at %d, final %v at %d, last step %d", ck.BestEvalLoss, ck.BestStep, ck.FinalEvalLoss, ck.FinalEvalStep, ck.LastStep)
	}

	empty := fakeRun(t, baseDir, ad, 0, 1)
	os.RemoveAll(run.CheckpointDir(empty, 1))
	if _, err := FindCheckpoint(empty); err == nil || !strings.Contains(err.Error(), "no checkpoint yet") {
		t.Errorf("run without checkpoints: %v", err)
	}
}

// TestExport_ModelCard ensures the card carries the Hub's front matter (base_model by its Hub id
// when the base records one, library_name, tags), the hyperparameters and the losses.
func TestExport_ModelCard(t *testing.T) {
	baseDir := writeBase(t, smallShape)
	js, _ := os.ReadFile(filepath.Join(baseDir, "config.json"))
	js = []byte(strings.Replace(string(js), "{", `{"_name_or_path": "meta-llama/Llama-2-7b-hf",`, 1))
	os.WriteFile(filepath.Join(baseDir, "config.json"), js, 0o644)
	runDir := fakeRun(t, baseDir, randomAdapter(t, baseDir, 4, 8, someTargets, 12), 2, 2, 4)
	for format, want := range map[Format][]string{
		PEFT: {"---\nbase_model: \"meta-llama/Llama-2-7b-hf\"\nlibrary_name: peft\n", "- peft\n", "A LoRA adapter (PEFT format)",
			"PeftModel.from_pretrained"},
		Merged: {"library_name: transformers\n", "merged into the original base weights; weights in bfloat16",
			"AutoModelForCausalLM.from_pretrained(\"card\""},
		BnB4: {"- bitsandbytes\n", "quantized to 4-bit NF4 (bitsandbytes layout, blocksize 64, double quant true"},
	} {
		out := filepath.Join(t.TempDir(), "card")
		if _, err := Export(context.Background(), runDir, out, Options{Format: format}); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(out, CardName))
		if err != nil {
			t.Fatal(err)
		}
		card := string(b)
		want = append(want, "datasets:\n- \"capitals.jsonl\"\n", "| lora_r | 4 |", "| lora_alpha | 8 |",
			"| lora_target_modules | q_proj, v_proj, down_proj |", "| learning_rate | 0.0002 |",
			"| final eval loss | 2.2000 | 4 |", "| best eval loss | 2.0000 | 2 |", "Exported from the checkpoint of step 2, the run's best")
		for _, w := range want {
			if !strings.Contains(card, w) {
				t.Errorf("%s card lacks %q:\n%s", format, w, card)
			}
		}
	}
}

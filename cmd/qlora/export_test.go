package main

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qlora-studio/qlora-studio/internal/tinymodel"
	"github.com/qlora-studio/qlora-studio/trainer/export"
	"github.com/qlora-studio/qlora-studio/trainer/gguf"
	"github.com/qlora-studio/qlora-studio/trainer/lora"
	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/run"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
	"github.com/qlora-studio/qlora-studio/trainer/tokenizer"
)

// trainedRun trains the tiny chat model for 8 steps with evaluation every 4, and writes token ids
// to evaluate on. It returns the base model folder, the run folder and the token file.
func trainedRun(t *testing.T) (string, string, string) {
	t.Helper()
	modelDir, args := trainSetup(t, "8")
	runDir := filepath.Join(t.TempDir(), "run")
	args = append(args, "--set", "val_set_size=8", "--set", "eval_steps=4", "--out", runDir)
	if _, stderr, code := qlora(t, args...); code != 0 {
		t.Fatalf("train: exit %d\n%s", code, stderr)
	}
	// Conversations like the training data's, which the adapter has learned to answer, so that it
	// moves the loss well beyond the tolerances below.
	tok, err := tokenizer.Load(modelDir)
	if err != nil {
		t.Fatal(err)
	}
	var ids [][]int32
	for _, qa := range [][2]string{{"France", "Paris"}, {"Peru", "Lima"}, {"Kenya", "Nairobi"}, {"Japan", "Tokyo"}} {
		ids = append(ids, tok.Encode("<|im_start|>user\nWhat is the capital of "+qa[0]+"?<|im_end|>\n"+
			"<|im_start|>assistant\nThe capital is "+qa[1]+".<|im_end|>\n", false))
	}
	tokens := filepath.Join(t.TempDir(), "ids.json")
	js, _ := json.Marshal(map[string]any{"ids": ids})
	os.WriteFile(tokens, js, 0o644)
	return modelDir, runDir, tokens
}

// exportJSON runs qlora export with --json and returns its result.
func exportJSON(t *testing.T, args ...string) export.Result {
	t.Helper()
	stdout, stderr, code := qlora(t, append(append([]string{"export"}, args...), "--json")...)
	if code != 0 {
		t.Fatalf("qlora export %v: exit %d\n%s", args, code, stderr)
	}
	var res export.Result
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v: %q", err, stdout)
	}
	return res
}

// evalLoss runs qlora eval --json and returns the loss.
func evalLoss(t *testing.T, args ...string) float64 {
	t.Helper()
	stdout, stderr, code := qlora(t, append(append([]string{"eval"}, args...), "--json")...)
	if code != 0 {
		t.Fatalf("qlora eval %v: exit %d\n%s", args, code, stderr)
	}
	var got struct {
		Loss float64 `json:"loss"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	return got.Loss
}

// TestExport_MergedEvalEqualsAdapter ensures a merged model computes what its base computed with
// the adapter: merged into the original weights, `qlora eval` equals `qlora eval --base-precision
// full` with the adapter; merged into the NF4 base, it equals `qlora eval` (NF4) with the adapter.
// Each within the precision of the dtype: float32 rounding for f32, half a bfloat16 ulp (2⁻⁹)
// relative for bf16.
func TestExport_MergedEvalEqualsAdapter(t *testing.T) {
	modelDir, runDir, tokens := trainedRun(t)
	cases := []struct {
		into, dtype, basePrecision string
		tol                        float64
	}{
		{"original", "f32", "full", 1e-5},
		{"original", "bf16", "full", 1.0 / 512},
		{"nf4", "f32", "nf4", 1e-5},
		{"nf4", "bf16", "nf4", 1.0 / 512},
	}
	unadapted := evalLoss(t, "--model", modelDir, "--tokens", tokens, "--base-precision", "full")
	for _, c := range cases {
		out := filepath.Join(t.TempDir(), "merged")
		res := exportJSON(t, runDir, "--format", "merged", "--merge-into", c.into, "--dtype", c.dtype, "--out", out)
		if !res.Best || res.Step == 0 || string(res.MergeInto) != c.into {
			t.Errorf("%s/%s: result %+v", c.into, c.dtype, res)
		}
		want := evalLoss(t, "--model", modelDir, "--adapter", res.Checkpoint, "--tokens", tokens, "--base-precision", c.basePrecision)
		got := evalLoss(t, "--model", out, "--tokens", tokens, "--base-precision", "full")
		t.Logf("merged into %s in %s: loss %.7f, with the adapter %.7f, without %.7f", c.into, c.dtype, got, want, unadapted)
		if d := math.Abs(got-want) / want; d > c.tol {
			t.Errorf("merged into %s in %s: loss %.7f, the adapter gives %.7f (%.2g relative, tolerance %.2g)", c.into, c.dtype, got, want, d, c.tol)
		}
		if d := math.Abs(unadapted-want) / want; d < 4*c.tol {
			t.Fatalf("the adapter moves the loss by only %.2g: the comparison proves nothing", d)
		}
	}
}

// TestExport_PEFT_RoundTrip ensures the exported adapter of a named checkpoint is that checkpoint's
// adapter, evaluates to the very same loss, and carries a model card for PEFT.
func TestExport_PEFT_RoundTrip(t *testing.T) {
	modelDir, runDir, tokens := trainedRun(t)
	ckpt := run.CheckpointDir(runDir, 8)
	out := filepath.Join(t.TempDir(), "adapter")
	stdout, stderr, code := qlora(t, "export", ckpt, "--format", "peft", "--out", out)
	if code != 0 || !strings.Contains(stdout, "wrote "+out) || !strings.Contains(stdout, "step 8") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	want, err := lora.Load(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	got, err := lora.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Error("the exported adapter differs from the checkpoint's")
	}
	a := evalLoss(t, "--model", modelDir, "--adapter", ckpt, "--tokens", tokens)
	b := evalLoss(t, "--model", modelDir, "--adapter", out, "--tokens", tokens)
	if a != b {
		t.Errorf("loss %v with the export, %v with the checkpoint", b, a)
	}
	card, _ := os.ReadFile(filepath.Join(out, export.CardName))
	for _, w := range []string{"library_name: peft", "| lora_r | 4 |", "best eval loss"} {
		if !strings.Contains(string(card), w) {
			t.Errorf("model card lacks %q:\n%s", w, card)
		}
	}
}

// TestExport_BnB4_Loads ensures the 4-bit export is a pre-quantized model the engine loads.
func TestExport_BnB4_Loads(t *testing.T) {
	_, runDir, tokens := trainedRun(t)
	out := filepath.Join(t.TempDir(), "bnb4")
	if res := exportJSON(t, runDir, "--format", "bnb4", "--out", out); res.Format != export.BnB4 || res.Bytes == 0 {
		t.Errorf("result %+v", res)
	}
	cfg, err := model.LoadConfig(out)
	if err != nil || cfg.Quantization == nil || cfg.Quantization.QuantType != "nf4" {
		t.Fatalf("config: %v %+v", err, cfg)
	}
	if loss := evalLoss(t, "--model", out, "--tokens", tokens); !(loss > 0 && loss < 20) {
		t.Errorf("loss %v", loss)
	}
}

// TestExport_SignalLeavesNothing ensures SIGINT and SIGTERM stop an export in progress with the
// exit status of an interrupted command, and leave neither the output nor its temporary folder.
func TestExport_SignalLeavesNothing(t *testing.T) {
	base, adapter := largeBaseAndAdapter(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		parent := t.TempDir()
		out := filepath.Join(parent, "merged")
		cmd := exec.Command(qloraBin, "export", adapter, "--base", base, "--format", "merged", "--dtype", "f32", "--out", out)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitForTemporary(t, parent, ".merged.tmp-")
		cmd.Process.Signal(sig)
		cmd.Wait()
		if code := cmd.ProcessState.ExitCode(); code != exitStopped || !strings.Contains(stderr.String(), "nothing was written") {
			t.Errorf("%v: exit %d, want %d\n%s", sig, code, exitStopped, stderr.String())
		}
		if entries, _ := os.ReadDir(parent); len(entries) != 0 {
			t.Errorf("%v: left behind %v", sig, entries)
		}
	}
}

// waitForTemporary waits until the export has created its temporary folder in parent.
func waitForTemporary(t *testing.T, parent, prefix string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		entries, _ := os.ReadDir(parent)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), prefix) {
				return
			}
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("the export never started")
}

// largeBaseAndAdapter writes a 34M-parameter model (a float32 merge of it writes 134 MB, long
// enough to interrupt) and a random PEFT adapter for it.
func largeBaseAndAdapter(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	base, adapter := filepath.Join(dir, "base"), filepath.Join(dir, "adapter")
	shape := tinymodel.Shape{Arch: "llama", Vocab: 356, Hidden: 512, Intermediate: 2048, Layers: 8, Heads: 8, KVHeads: 8}
	if err := tinymodel.Write(base, shape, 3); err != nil {
		t.Fatal(err)
	}
	cfg := lora.DefaultConfig()
	cfg.TargetModules = lora.Strings{List: run.AllLinear}
	ad := &lora.Adapter{Config: cfg}
	mc, _ := model.LoadConfig(base)
	for l := 0; l < shape.Layers; l++ {
		for p, proj := range mc.ProjectionShapes() {
			out, in := proj.Shape[0], proj.Shape[1]
			ad.Modules = append(ad.Modules, lora.ModuleWeights{Layer: l, Module: lora.Modules[p], R: cfg.R, In: in, Out: out,
				A: make([]float32, cfg.R*in), B: make([]float32, out*cfg.R)})
			for i, a := range lora.InitA(cfg.R, in, 1, uint64(l*7+p)) {
				ad.Modules[len(ad.Modules)-1].A[i] = float32(a)
			}
		}
	}
	if err := lora.Save(adapter, ad, safetensors.F32); err != nil {
		t.Fatal(err)
	}
	return base, adapter
}

// TestExport_Errors ensures misuse exits 2 with the usage named, and failures exit 1 naming what
// is wrong.
func TestExport_Errors(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	exists := t.TempDir()
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"export", "runs/x", "--out", out}, 2, "--format peft|merged|bnb4"},
		{[]string{"export", "runs/x", "--format", "onnx", "--out", out}, 2, `--format "onnx"`},
		{[]string{"export", "runs/x", "--format", "peft", "--merge-into", "nf4", "--out", out}, 2, "an adapter is not merged"},
		{[]string{"export", "runs/x", "--format", "merged", "--merge-into", "fp8", "--out", out}, 2, `--merge-into "fp8"`},
		{[]string{"export", "runs/x", "--format", "merged", "--dtype", "int8", "--out", out}, 2, `dtype "int8"`},
		{[]string{"export", "/nonexistent/run", "--format", "merged", "--out", out}, 1, "/nonexistent/run: neither a run folder"},
		{[]string{"export", tinyModel, "--format", "merged", "--out", exists}, 1, "neither a run folder"},
	}
	for _, c := range cases {
		_, stderr, code := qlora(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("qlora %v: exit %d, %q; want %d and %q", c.args, code, stderr, c.code, c.want)
		}
	}
}

// TestExport_GGUF ensures a run exports to one GGUF file per requested type that our reader opens,
// with every weight matrix of the requested type, the architecture keys, and nothing else left in
// the output's folder.
func TestExport_GGUF(t *testing.T) {
	_, args := trainSetup(t, "2")
	runDir := filepath.Join(t.TempDir(), "run")
	if _, stderr, code := qlora(t, append(args, "--out", runDir)...); code != 0 {
		t.Fatalf("train: exit %d\n%s", code, stderr)
	}
	for _, typ := range []string{"q8_0", "bf16"} {
		parent := t.TempDir()
		out := filepath.Join(parent, "tiny-"+typ)
		if _, stderr, code := qlora(t, "export", runDir, "--format", "gguf", "--dtype", typ, "--out", out); code != 0 {
			t.Fatalf("export %s: exit %d\n%s", typ, code, stderr)
		}
		files, _ := filepath.Glob(filepath.Join(out, "*.gguf"))
		entries, _ := os.ReadDir(parent)
		if len(files) != 1 || len(entries) != 1 {
			t.Fatalf("%s: files %v, %d entries beside the output", typ, files, len(entries))
		}
		f, err := gguf.Open(files[0])
		if err != nil {
			t.Fatal(err)
		}
		q, ok := f.Tensor("blk.0.attn_q.weight")
		if !ok || !strings.EqualFold(q.Type.String(), typ) {
			t.Errorf("%s: blk.0.attn_q.weight is %+v", typ, q)
		}
		if v, ok := f.Get("llama.block_count"); !ok || v.String() != "2" {
			t.Errorf("%s: llama.block_count = %v", typ, v)
		}
		f.Close()
	}
	stdout, stderr, code := qlora(t, "runs", "show", runDir, "--json")
	var shown struct {
		Exports []struct {
			Kind string `json:"kind"`
		} `json:"exports"`
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &shown) != nil || len(shown.Exports) != 2 || shown.Exports[0].Kind != "gguf" {
		t.Errorf("the library lists the run's exports as %+v (exit %d, %s)", shown.Exports, code, stderr)
	}
}

// TestExport_ProgressLines ensures --progress prints one JSON line per tensor on stdout, rising
// once to the total across a GGUF export's two passes, then the --json result as the last line.
func TestExport_ProgressLines(t *testing.T) {
	_, args := trainSetup(t, "2")
	runDir := filepath.Join(t.TempDir(), "run")
	if _, stderr, code := qlora(t, append(args, "--no-library", "--out", runDir)...); code != 0 {
		t.Fatalf("train: exit %d\n%s", code, stderr)
	}
	out := filepath.Join(t.TempDir(), "gguf")
	stdout, stderr, code := qlora(t, "export", runDir, "--format", "gguf", "--out", out, "--progress", "--json", "--no-library")
	if code != 0 {
		t.Fatalf("export: exit %d\n%s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var res export.Result
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil || res.Path != out || res.Format != export.GGUF {
		t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
	}
	var last export.ProgressLine
	for _, line := range lines[:len(lines)-1] {
		var p export.ProgressLine
		if err := json.Unmarshal([]byte(line), &p); err != nil || p.Type != export.ProgressType || p.Done < last.Done ||
			(last.Total != 0 && p.Total != last.Total) {
			t.Fatalf("progress line %q after %+v: %v", line, last, err)
		}
		last = p
	}
	if len(lines) < 3 || last.Done != last.Total {
		t.Errorf("%d lines, the last progress %+v", len(lines), last)
	}
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/qlora-studio/qlora-studio/assets"
	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/run"
	"github.com/qlora-studio/qlora-studio/trainer/tokenizer"
)

// The demo's names in the library.
const (
	demoModelName   = "demo-base"
	demoDatasetName = "demo-capitals"
)

// demoSteps and demoQuickSteps are the fine-tune's optimizer steps in the full demo and in the
// reduced one the tests run; demoQuickHeldOut is how many held-out prompts the reduced one scores.
const (
	demoSteps        = 60
	demoQuickSteps   = 24
	demoQuickHeldOut = 20
)

// demoSettings are the demo's overrides of the `demo` preset: the completion rows are short, so
// short packed sequences; no evaluation during the run, since the held-out score before and after
// is what the demo shows.
var demoSettings = []string{
	"dataset_format=completion",
	"max_seq_length=128",
	"micro_batch_size=4",
	"learning_rate=0.003",
	"warmup_steps=4",
	"val_set_size=0",
	"eval_steps=0",
	"save_steps=0",
	"shuffle=true",
	"seed=16",
}

func runDemo(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", "[--library DIR] [--steps N] [--quick] [--heldout N] [--show N] [--backend cpu]", stderr)
	libDir := fs.String("library", "", "library folder (default $QLORA_LIBRARY, else ~/.local/share/qlora-studio)")
	steps := fs.Int("steps", 0, fmt.Sprintf("optimizer steps of the fine-tune (default %d; %d with --quick)", demoSteps, demoQuickSteps))
	quick := fs.Bool("quick", false, "a reduced demo, as the tests run it: fewer steps and held-out prompts")
	heldOut := fs.Int("heldout", 0, fmt.Sprintf("held-out prompts to score (default all; %d with --quick)", demoQuickHeldOut))
	show := fs.Int("show", 6, "generations to show side by side")
	backendName := fs.String("backend", "cpu", "cpu (what the demo is sized for), auto or cuda")
	if pos, err := parseInterspersed(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return fmt.Errorf("%w: qlora demo takes no arguments, only flags", errUsage)
	}
	if *steps == 0 {
		*steps = demoSteps
		if *quick {
			*steps = demoQuickSteps
		}
	}
	if *heldOut == 0 && *quick {
		*heldOut = demoQuickHeldOut
	}
	if *steps < 1 || *heldOut < 0 || *show < 0 {
		return fmt.Errorf("%w: --steps, --heldout and --show must be positive", errUsage)
	}
	start := time.Now()

	if *libDir == "" {
		d, err := storage.DefaultDir()
		if err != nil {
			return err
		}
		*libDir = d
	}
	lib, err := storage.Open(*libDir, nil)
	if err != nil {
		return err
	}
	defer lib.Close()
	mdl, ds, err := importDemo(lib, stderr)
	if err != nil {
		return err
	}
	rows, err := demoHeldOut(*heldOut)
	if err != nil {
		return err
	}
	tok, err := tokenizer.Load(mdl.Path)
	if err != nil {
		return err
	}

	fmt.Fprintf(stderr, "scoring the base model on %d held-out questions...\n", len(rows))
	base, err := loadForInference(mdl.Path, "", model.BaseNF4)
	if err != nil {
		return err
	}
	before, err := scoreExactMatch(base, tok, rows)
	if err != nil {
		return err
	}

	cfg, err := run.Layers{Docs: []run.Doc{mustPreset("demo")}, Sets: append([]string{
		"base_model=" + mdl.Path, "dataset=" + ds.Path, "max_steps=" + strconv.Itoa(*steps)}, demoSettings...)}.Resolve()
	if err != nil {
		return err
	}
	dir := newRunDir(filepath.Join(lib.Dir(), storage.RunsDir), "demo-"+time.Now().Format("20060102-150405"))
	fmt.Fprintf(stderr, "fine-tuning %s on %s: QLoRA, %d steps, run folder %s\n", demoModelName, demoDatasetName, *steps, dir)
	ckpt, err := trainDemo(lib, cfg, dir, mdl.Name, ds.Name, *backendName, stderr)
	if err != nil {
		return err
	}

	tuned, err := loadForInference(mdl.Path, ckpt, model.BaseNF4)
	if err != nil {
		return err
	}
	after, err := scoreExactMatch(tuned, tok, rows)
	if err != nil {
		return err
	}
	printDemo(stdout, rows, before, after, *show)
	fmt.Fprintf(stdout, "\nadapter: %s\ntook %s\n", ckpt, time.Since(start).Round(time.Second))
	return nil
}

// newRunDir is parent/name, or parent/name-2, -3, ... when that exists (two demos in one second).
func newRunDir(parent, name string) string {
	dir := filepath.Join(parent, name)
	for i := 2; ; i++ {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			return dir
		}
		dir = filepath.Join(parent, fmt.Sprintf("%s-%d", name, i))
	}
}

// mustPreset is a built-in preset as a configuration layer; the built-in ones always parse.
func mustPreset(id string) run.Doc {
	p, err := run.LookupPreset(id)
	if err != nil {
		panic(err)
	}
	return p.Doc()
}

// importDemo finds the demo model and dataset in the library, importing them from the program's
// embedded copies the first time.
func importDemo(lib *storage.Library, stderr io.Writer) (storage.Model, storage.Dataset, error) {
	mdl, err := lib.Model(demoModelName)
	switch {
	case err == nil:
		fmt.Fprintf(stderr, "demo model %s: in the library (%s)\n", demoModelName, mdl.Path)
		if !sameAsEmbedded(mdl, "demo/model") {
			fmt.Fprintf(stderr, "note: the library's %s is not this program's demo model (an older version's?); remove it from the library to import this one\n", demoModelName)
		}
	case errors.Is(err, storage.ErrNotFound):
		err = withEmbedded("demo/model", func(dir string) error {
			mdl, err = lib.AddModel(dir, storage.ModelOptions{Name: demoModelName, Copy: true})
			return err
		})
		if err != nil {
			return mdl, storage.Dataset{}, fmt.Errorf("importing the demo model: %w", err)
		}
		fmt.Fprintf(stderr, "demo model %s: imported into %s\n", demoModelName, lib.Dir())
	default:
		return mdl, storage.Dataset{}, err
	}
	ds, err := lib.Dataset(demoDatasetName)
	switch {
	case err == nil:
		fmt.Fprintf(stderr, "demo dataset %s: in the library (%d rows)\n", demoDatasetName, ds.Rows)
	case errors.Is(err, storage.ErrNotFound):
		err = withEmbedded("demo", func(dir string) error {
			ds, err = lib.AddDataset(filepath.Join(dir, "train.jsonl"), storage.DatasetOptions{Name: demoDatasetName, Shape: "completion"})
			return err
		})
		if err != nil {
			return mdl, ds, fmt.Errorf("importing the demo dataset: %w", err)
		}
		fmt.Fprintf(stderr, "demo dataset %s: imported (%d rows)\n", demoDatasetName, ds.Rows)
	default:
		return mdl, ds, err
	}
	return mdl, ds, nil
}

// sameAsEmbedded reports whether the model's recorded weights are the embedded folder sub's.
func sameAsEmbedded(m storage.Model, sub string) bool {
	b, err := assets.Demo.ReadFile(sub + "/model.safetensors")
	if err != nil {
		return false
	}
	sum := sha256.Sum256(b)
	for _, f := range m.Files {
		if f.Name == "model.safetensors" {
			return f.SHA256 == hex.EncodeToString(sum[:])
		}
	}
	return false
}

// withEmbedded writes the files of the embedded folder sub (not its subfolders) into a temporary
// folder, calls fn with it, and removes it.
func withEmbedded(sub string, fn func(dir string) error) error {
	tmp, err := os.MkdirTemp("", "qlora-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	entries, err := fs.ReadDir(assets.Demo, sub)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := fs.ReadFile(assets.Demo, sub+"/"+e.Name())
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(tmp, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	return fn(tmp)
}

// demoHeldOut reads the embedded held-out rows, the first n of them (all when n is 0).
func demoHeldOut(n int) ([]demoRow, error) {
	b, err := assets.Demo.ReadFile("demo/heldout.jsonl")
	if err != nil {
		return nil, err
	}
	var rows []demoRow
	sc := bufio.NewScanner(bytes.NewReader(b))
	for line := 1; sc.Scan(); line++ {
		var r demoRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("demo/heldout.jsonl line %d: %w", line, err)
		}
		rows = append(rows, r)
	}
	if n > 0 && n < len(rows) {
		rows = rows[:n]
	}
	return rows, nil
}

// demoRow is a held-out prompt and its exact answer (the completion, after its leading space).
type demoRow struct {
	Prompt     string `json:"prompt"`
	Completion string `json:"completion"`
}

// demoMaxTokens bounds each answer's generation: the longest capital takes a few tokens, and an
// answer that does not end by then is wrong anyway.
const demoMaxTokens = 12

// scored is one prompt's greedy generation and whether it is exactly the answer.
type scored struct {
	Text  string
	Right bool
}

// scoreExactMatch generates greedily from each prompt (as plain text, with the tokenizer's special
// tokens, as the completion shape trains) until a stop token, and compares the text, trimmed of
// spaces, with the answer.
func scoreExactMatch(m *model.Model, tok *tokenizer.Tokenizer, rows []demoRow) ([]scored, error) {
	stop := run.StopTokens(tok, m.Config)
	out := make([]scored, len(rows))
	for i, r := range rows {
		ids, err := m.Generate(tok.Encode(r.Prompt, true), model.Sampling{MaxTokens: demoMaxTokens, Stop: stop})
		if err != nil {
			return nil, err
		}
		text := strings.TrimSpace(tok.Decode(ids, true))
		out[i] = scored{text, text == strings.TrimSpace(r.Completion)}
	}
	return out, nil
}

func countRight(s []scored) int {
	n := 0
	for _, x := range s {
		if x.Right {
			n++
		}
	}
	return n
}

// trainDemo records the run in the library, trains it in this process with progress on stderr,
// and returns its final checkpoint.
func trainDemo(lib *storage.Library, cfg run.Config, dir, modelName, datasetName, backendName string, stderr io.Writer) (string, error) {
	be, err := chooseBackend(backendName)
	if err != nil {
		return "", err
	}
	yaml, err := cfg.Marshal()
	if err != nil {
		return "", err
	}
	rec, err := lib.RecordRun(storage.NewRun{Dir: dir, Model: modelName, Dataset: datasetName, Preset: "demo",
		BaseModel: cfg.BaseModel, Data: cfg.Dataset, Config: yaml, Plan: storage.PlanFor(&cfg, be.Name()), PID: os.Getpid()})
	if err != nil {
		return "", err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer cancel()
	res, err := run.Train(ctx, cfg, run.Options{Dir: dir, Backend: be, Progress: stderr})
	reason := ""
	if err != nil {
		reason = err.Error()
	}
	if _, endErr := lib.EndRun(rec.ID, reason); endErr != nil && err == nil {
		err = endErr
	}
	if err != nil {
		return "", err
	}
	switch res.Status {
	case run.Finished:
		return res.Checkpoint, nil
	case run.Stopped:
		fmt.Fprintf(stderr, "stopped at step %d\n", res.Step)
		return "", exitCode(exitStopped)
	}
	return "", fmt.Errorf("the demo run %s: %s", res.Status, res.Reason)
}

// printDemo prints the held-out score before and after, and a few generations side by side.
func printDemo(w io.Writer, rows []demoRow, before, after []scored, show int) {
	n := len(rows)
	b, a := countRight(before), countRight(after)
	fmt.Fprintf(w, "held-out exact match (%d questions the fine-tune never saw):\n", n)
	fmt.Fprintf(w, "  before  %d/%d (%.0f%%)\n", b, n, 100*float64(b)/float64(max(n, 1)))
	fmt.Fprintf(w, "  after   %d/%d (%.0f%%)\n\n", a, n, 100*float64(a)/float64(max(n, 1)))
	show = min(show, n)
	if show == 0 {
		return
	}
	fmt.Fprintf(w, "%-40s  %-14s  %-30s  %s\n", "question", "answer", "before", "after")
	for i := 0; i < show; i++ {
		q := strings.TrimSuffix(strings.TrimPrefix(rows[i].Prompt, "Question: "), "\nAnswer:")
		fmt.Fprintf(w, "%-40s  %-14s  %-30s  %s\n", clip(q, 40), strings.TrimSpace(rows[i].Completion),
			mark(before[i], 28), mark(after[i], 28))
	}
}

// mark is a generation on one line, clipped, with ✓ or ✗.
func mark(s scored, width int) string {
	sign := "✗"
	if s.Right {
		sign = "✓"
	}
	return sign + " " + clip(strconv.Quote(s.Text), width)
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

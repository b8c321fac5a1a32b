package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/qlora-studio/qlora-studio/storage"
)

const runsSynopsis = "qlora runs list | show RUN [--metrics] | compare A B | rm RUN [--delete-files] | add RUN_DIR | import ADAPTER_DIR [--config axolotl.yaml]  [--library DIR] [--json]"

func runRuns(args []string, stdout, stderr io.Writer) error {
	sub, rest, err := subcommand(args, runsSynopsis)
	if err != nil {
		return err
	}
	switch sub {
	case "list", "ls":
		return runRunsList(rest, stdout, stderr)
	case "show":
		return runRunsShow(rest, stdout, stderr)
	case "compare":
		return runRunsCompare(rest, stdout, stderr)
	case "rm", "remove":
		return runRunsRm(rest, stdout, stderr)
	case "add", "adopt":
		return runRunsAdd(rest, stdout, stderr)
	case "import":
		return runRunsImport(rest, stdout, stderr)
	}
	return fmt.Errorf("%w: unknown subcommand %q: %s", errUsage, sub, runsSynopsis)
}

func runRunsList(args []string, stdout, stderr io.Writer) error {
	return listing[storage.Run]{
		name: "runs list", empty: "no runs yet: qlora train --model NAME --data NAME",
		header: "ID\tNAME\tSTATUS\tSTEP\tLOSS\tEVAL LOSS\tMODEL\tDATASET\tCREATED",
		fetch: func(lib *storage.Library) ([]storage.Run, error) {
			if err := lib.Refresh(); err != nil { // index what running engines appended since
				return nil, err
			}
			return lib.Runs()
		},
		row: func(r storage.Run) string {
			return fmt.Sprintf("%d\t%s\t%s\t%d/%d\t%s\t%s\t%s\t%s\t%s", r.ID, r.Name, r.Status, r.Step, r.TotalSteps,
				optFloat(r.Loss), optFloat(r.EvalLoss), orPath(r.Model, r.BaseModel), orPath(r.Dataset, r.Data), when(r.Created))
		},
	}.run(args, stdout, stderr)
}

// runShow is what `runs show --json` prints.
type runShow struct {
	storage.Run
	Config  string           `json:"config"`
	Plan    *storage.Plan    `json:"plan,omitempty"`
	Exports []storage.Export `json:"exports"`
	Points  int              `json:"points"`
	Evals   int              `json:"evals"`
	Metrics []pointJSON      `json:"metrics,omitempty"`
	EvalSet []evalJSON       `json:"eval_metrics,omitempty"`
}

// pointJSON is a metric point for JSON, its missing values null.
type pointJSON struct {
	Step        int       `json:"step"`
	Time        time.Time `json:"time"`
	Epoch       float64   `json:"epoch"`
	Loss        *float64  `json:"loss"`
	LR          float64   `json:"lr"`
	GradNorm    *float64  `json:"grad_norm"`
	Tokens      int64     `json:"tokens"`
	TokensPerS  float64   `json:"tokens_per_s"`
	MemoryBytes int64     `json:"memory_bytes"`
	GPUUtil     *float64  `json:"gpu_util_percent"` // null where unknown (the CPU, or runs before it was recorded)
}

type evalJSON struct {
	Step       int       `json:"step"`
	Time       time.Time `json:"time"`
	Loss       *float64  `json:"eval_loss"`
	Perplexity float64   `json:"perplexity"`
	Best       bool      `json:"best"`
}

// percentText is a GPU utilisation for the metrics table, "-" where unknown.
func percentText(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", v)
}

func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func runRunsShow(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("runs show", "RUN [--metrics] [--json]", stderr)
	lf := addLibraryFlags(fs, false)
	metrics := fs.Bool("metrics", false, "print every step's metrics and every evaluation")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: qlora runs show RUN [--metrics] [--json]", errUsage)
	}
	lib, err := lf.open()
	if err != nil {
		return err
	}
	defer lib.Close()
	show, points, evals, err := loadRun(lib, pos[0])
	if err != nil {
		return err
	}
	if *metrics {
		for _, p := range points {
			show.Metrics = append(show.Metrics, pointJSON{p.Step, p.Time, p.Epoch, finite(p.Loss), p.LR, finite(p.GradNorm), p.Tokens, p.TokensPerS, p.MemoryBytes, finite(p.GPUUtil)})
		}
		for _, e := range evals {
			show.EvalSet = append(show.EvalSet, evalJSON{e.Step, e.Time, finite(e.Loss), e.Perplexity, e.Best})
		}
	}
	if *asJSON {
		return writeJSON(stdout, show)
	}
	writeRun(stdout, show, points, evals)
	if *metrics {
		w := table(stdout)
		fmt.Fprintln(w, "STEP\tTIME\tEPOCH\tLOSS\tLR\tGRAD NORM\tTOKENS/S\tMEMORY\tGPU BUSY")
		for _, p := range points {
			fmt.Fprintf(w, "%d\t%s\t%.3f\t%.4f\t%.3g\t%.3f\t%.0f\t%s\t%s\n", p.Step, p.Time.Local().Format("15:04:05.000"), p.Epoch, p.Loss, p.LR,
				p.GradNorm, p.TokensPerS, sizeText(p.MemoryBytes), percentText(p.GPUUtil))
		}
		w.Flush()
		for _, e := range evals {
			fmt.Fprintf(stdout, "eval at step %d: loss %.4f, perplexity %.2f%s\n", e.Step, e.Loss, e.Perplexity, map[bool]string{true: " (best)"}[e.Best])
		}
	}
	return nil
}

// loadRun refreshes and reads one run with what is recorded about it.
func loadRun(lib *storage.Library, ref string) (runShow, []storage.Point, []storage.EvalPoint, error) {
	r, err := lib.FindRun(ref)
	if err != nil {
		return runShow{}, nil, nil, err
	}
	if r, err = lib.RefreshRun(r.ID); err != nil {
		return runShow{}, nil, nil, err
	}
	show := runShow{Run: r, Exports: []storage.Export{}}
	cfg, err := lib.RunConfig(r.ID)
	if err != nil {
		return show, nil, nil, err
	}
	show.Config, show.Plan = cfg.YAML, cfg.Plan
	if ex, err := lib.Exports(r.ID); err != nil {
		return show, nil, nil, err
	} else if ex != nil {
		show.Exports = ex
	}
	points, err := lib.Series(r.ID, storage.Range{})
	if err != nil {
		return show, nil, nil, err
	}
	evals, err := lib.EvalSeries(r.ID, storage.Range{})
	show.Points, show.Evals = len(points), len(evals)
	return show, points, evals, err
}

// keyConfig are the configuration keys `runs show` prints.
var keyConfig = []string{"learning_rate", "max_steps", "num_train_epochs", "micro_batch_size", "gradient_accumulation_steps",
	"max_seq_length", "lora_r", "lora_alpha", "lora_dropout", "optim", "load_in_4bit", "seed"}

func writeRun(w io.Writer, s runShow, points []storage.Point, evals []storage.EvalPoint) {
	r := s.Run
	fmt.Fprintf(w, "%s (#%d)\n", r.Name, r.ID)
	status := r.Status
	if r.Reason != "" {
		status += ": " + r.Reason
	}
	fmt.Fprintf(w, "  status       %s\n", status)
	fmt.Fprintf(w, "  folder       %s\n", r.Dir)
	fmt.Fprintf(w, "  model        %s\n", orPathLong(r.Model, r.BaseModel))
	fmt.Fprintf(w, "  dataset      %s\n", orPathLong(r.Dataset, r.Data))
	fmt.Fprintf(w, "  steps        %d of %d, epoch %.2f; created %s, started %s, ended %s", r.Step, r.TotalSteps, r.Epoch, when(r.Created), when(r.Started), when(r.Ended))
	if r.Resumes > 0 {
		fmt.Fprintf(w, "; resumed %d times", r.Resumes)
	}
	fmt.Fprintf(w, "\n  loss         last %s; best eval %s", optFloat(r.Loss), optFloat(r.EvalLoss))
	if r.BestStep > 0 {
		fmt.Fprintf(w, " at step %d", r.BestStep)
	}
	fmt.Fprintf(w, "\n  compute      %s, %.0f tokens/s, peak memory %s", orDash(r.Backend), r.TokensPerS, sizeText(r.PeakMemory))
	if s.Plan != nil {
		fmt.Fprintf(w, " (planned %s on %s)", sizeText(s.Plan.TotalBytes), s.Plan.Backend)
	}
	fmt.Fprintf(w, "\n  metrics      %d steps, %d evaluations", len(points), len(evals))
	if len(points) > 0 {
		fmt.Fprintf(w, ", %s to %s", points[0].Time.Local().Format("15:04:05"), points[len(points)-1].Time.Local().Format("15:04:05"))
	}
	fmt.Fprintln(w)
	var ckpts []string
	for _, c := range r.Checkpoints {
		name := fmt.Sprintf("step-%d", c)
		if c == r.BestStep {
			name += " (best)"
		}
		ckpts = append(ckpts, name)
	}
	fmt.Fprintf(w, "  checkpoints  %s\n", orDash(strings.Join(ckpts, ", ")))
	for _, e := range s.Exports {
		fmt.Fprintf(w, "  export       %s of step %d: %s\n", e.Kind, e.Step, e.Path)
	}
	cfg := configMap(s.Config)
	var parts []string
	for _, k := range keyConfig {
		if v, ok := cfg[k]; ok {
			parts = append(parts, fmt.Sprintf("%s %v", k, v))
		}
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "  config       %s\n", strings.Join(parts, ", "))
	}
}

func runRunsCompare(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("runs compare", "A B [--json]", stderr)
	lf := addLibraryFlags(fs, false)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return fmt.Errorf("%w: qlora runs compare A B [--json]", errUsage)
	}
	lib, err := lf.open()
	if err != nil {
		return err
	}
	defer lib.Close()
	a, pa, _, err := loadRun(lib, pos[0])
	if err != nil {
		return err
	}
	b, pb, _, err := loadRun(lib, pos[1])
	if err != nil {
		return err
	}
	diff := configDiff(configMap(a.Config), configMap(b.Config))
	if *asJSON {
		return writeJSON(stdout, struct {
			A          runShow                `json:"a"`
			B          runShow                `json:"b"`
			ConfigDiff map[string][2]any      `json:"config_diff"`
			LossAt     map[string][2]*float64 `json:"loss_at_common_steps"`
		}{a, b, diff, lossAtCommonSteps(pa, pb)})
	}
	w := table(stdout)
	fmt.Fprintf(w, "\t%s (#%d)\t%s (#%d)\n", a.Name, a.ID, b.Name, b.ID)
	row := func(k, x, y string) { fmt.Fprintf(w, "%s\t%s\t%s\n", k, x, y) }
	row("status", a.Status, b.Status)
	row("model", orPath(a.Model, a.BaseModel), orPath(b.Model, b.BaseModel))
	row("dataset", orPath(a.Dataset, a.Data), orPath(b.Dataset, b.Data))
	row("steps", fmt.Sprintf("%d/%d", a.Step, a.TotalSteps), fmt.Sprintf("%d/%d", b.Step, b.TotalSteps))
	row("last loss", optFloat(a.Loss), optFloat(b.Loss))
	row("best eval loss", optFloat(a.EvalLoss), optFloat(b.EvalLoss))
	row("tokens/s", fmt.Sprintf("%.0f", a.TokensPerS), fmt.Sprintf("%.0f", b.TokensPerS))
	row("peak memory", sizeText(a.PeakMemory), sizeText(b.PeakMemory))
	row("duration", duration(a.Run), duration(b.Run))
	keys := make([]string, 0, len(diff))
	for k := range diff {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		row(k, fmt.Sprint(diff[k][0]), fmt.Sprint(diff[k][1]))
	}
	losses := lossAtCommonSteps(pa, pb)
	for _, step := range sampleSteps(losses) {
		row("loss at step "+step, optFloat(losses[step][0]), optFloat(losses[step][1]))
	}
	return w.Flush()
}

// configMap reads a run.yaml into its keys.
func configMap(y string) map[string]any {
	m := map[string]any{}
	yaml.Unmarshal([]byte(y), &m)
	return m
}

// configDiff are the keys whose values differ, with both values (nil where a key is absent).
func configDiff(a, b map[string]any) map[string][2]any {
	diff := map[string][2]any{}
	for k, v := range a {
		if fmt.Sprint(v) != fmt.Sprint(b[k]) {
			diff[k] = [2]any{v, b[k]}
		}
	}
	for k, v := range b {
		if _, ok := a[k]; !ok {
			diff[k] = [2]any{nil, v}
		}
	}
	return diff
}

// lossAtCommonSteps is both runs' loss at a few steps both reached: a quarter, half, three
// quarters and the last of the shorter run.
func lossAtCommonSteps(a, b []storage.Point) map[string][2]*float64 {
	out := map[string][2]*float64{}
	at := func(pts []storage.Point, step int) *float64 {
		i := sort.Search(len(pts), func(i int) bool { return pts[i].Step >= step })
		if i < len(pts) && pts[i].Step == step {
			return finite(pts[i].Loss)
		}
		return nil
	}
	if len(a) == 0 || len(b) == 0 {
		return out
	}
	last := min(a[len(a)-1].Step, b[len(b)-1].Step)
	for _, f := range []int{1, 2, 3, 4} {
		step := max(1, last*f/4)
		out[fmt.Sprint(step)] = [2]*float64{at(a, step), at(b, step)}
	}
	return out
}

// sampleSteps are the steps of lossAtCommonSteps in order.
func sampleSteps(m map[string][2]*float64) []string {
	steps := make([]string, 0, len(m))
	for k := range m {
		steps = append(steps, k)
	}
	sort.Slice(steps, func(i, j int) bool {
		return len(steps[i]) < len(steps[j]) || (len(steps[i]) == len(steps[j]) && steps[i] < steps[j])
	})
	return steps
}

func runRunsRm(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("runs rm", "RUN [--delete-files]", stderr)
	lf := addLibraryFlags(fs, false)
	deleteFiles := fs.Bool("delete-files", false, "also delete the run folder (checkpoints and all)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: qlora runs rm RUN [--delete-files]", errUsage)
	}
	lib, err := lf.open()
	if err != nil {
		return err
	}
	defer lib.Close()
	r, err := lib.FindRun(pos[0])
	if err != nil {
		return err
	}
	if r.Status == storage.StatusRunning {
		if r, err = lib.RefreshRun(r.ID); err != nil {
			return err
		}
		if r.Status == storage.StatusRunning {
			return fmt.Errorf("run %s is still running (process %d); stop it first", r.Name, r.PID)
		}
	}
	if err := lib.RemoveRun(r.ID, *deleteFiles); err != nil {
		return err
	}
	if *deleteFiles {
		fmt.Fprintf(stdout, "removed run %s and its folder %s\n", r.Name, r.Dir)
	} else {
		fmt.Fprintf(stdout, "removed run %s from the library (its folder %s stays)\n", r.Name, r.Dir)
	}
	return nil
}

func runRunsAdd(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("runs add", "RUN_DIR [--json]", stderr)
	lf := addLibraryFlags(fs, false)
	asJSON := fs.Bool("json", false, "print the record as JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: qlora runs add RUN_DIR", errUsage)
	}
	lib, err := lf.open()
	if err != nil {
		return err
	}
	defer lib.Close()
	r, err := lib.AdoptRun(pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, r)
	}
	fmt.Fprintf(stdout, "added run %s (#%d): %s at step %d\n", r.Name, r.ID, r.Status, r.Step)
	return nil
}

func optFloat(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.4f", *v)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// orPath is a library name, or the path a run was given instead.
func orPath(name, path string) string {
	if name != "" {
		return name
	}
	return orDash(path)
}

func orPathLong(name, path string) string {
	if name != "" {
		return fmt.Sprintf("%s (%s)", name, path)
	}
	return orDash(path)
}

func duration(r storage.Run) string {
	if r.Started.IsZero() {
		return "-"
	}
	end := r.Ended
	if end.IsZero() {
		end = time.Now()
	}
	return end.Sub(r.Started).Round(time.Second).String()
}

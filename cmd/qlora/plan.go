package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/plan"
	"github.com/qlora-studio/qlora-studio/trainer/run"
)

func runPlan(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("plan", "--model DIR_OR_CONFIG [--preset ID] [--config run.yaml] [--set key=value]... [--gpu-memory 48GiB] [--json]", stderr)
	modelPath := fs.String("model", "", "model folder, or its config.json")
	backendName := fs.String("backend", "cuda", "plan for cuda (the GPU) or cpu")
	memory := fs.String("gpu-memory", "48GiB", "the memory to fit in (GiB, GB, MiB or bytes)")
	asJSON := fs.Bool("json", false, "print JSON")
	flags := addConfigFlags(fs)
	if _, err := parseInterspersed(fs, args); err != nil {
		return err
	}
	layers, err := flags.layers()
	if err != nil {
		return err
	}
	if *modelPath == "" {
		return fmt.Errorf("%w: qlora plan --model DIR_OR_CONFIG", errUsage)
	}
	mem, err := parseBytes(*memory)
	if err != nil {
		return fmt.Errorf("%w: --gpu-memory: %v", errUsage, err)
	}
	mc, err := loadModelConfig(*modelPath)
	if err != nil {
		return err
	}
	cfg, err := layers.Resolve()
	if err != nil {
		return err
	}
	report, err := plan.Against(cfg.PlanRequest(mc, *backendName), mem)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(report)
	}
	writePlan(stdout, report)
	return nil
}

// writePlan prints the report as a table with the verdict.
func writePlan(w io.Writer, r plan.Report) {
	for _, c := range r.Components {
		kind := "exact"
		if !c.Exact {
			kind = "estimate"
		}
		fmt.Fprintf(w, "  %-44s %10s  %-8s %s\n", c.Name, gib(c.Bytes), kind, c.Note)
	}
	fmt.Fprintf(w, "  %-44s %10s\n", "total", gib(r.TotalBytes))
	if r.Fits {
		fmt.Fprintf(w, "fits in %s with %s to spare\n", gib(r.MemoryBytes), gib(r.SpareBytes))
	} else {
		fmt.Fprintf(w, "does NOT fit in %s: %s over\n", gib(r.MemoryBytes), gib(-r.SpareBytes))
	}
	fmt.Fprintf(w, "largest max_seq_length that fits (up to the model's context): %d; largest micro_batch_size: %d\n", r.LargestSeqLen, r.LargestMicroBatch)
}

func gib(b int64) string { return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30)) }

// parseBytes reads "48GiB", "48GB", "512MiB" or a plain number of bytes.
func parseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		scale  float64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"GB", 1e9}, {"MB", 1e6}, {"G", 1 << 30}, {"", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(strings.TrimSpace(s), u.suffix); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
			if err != nil || v <= 0 {
				return 0, fmt.Errorf("%q is not a size such as 48GiB", s)
			}
			return int64(v * u.scale), nil
		}
	}
	return 0, fmt.Errorf("%q is not a size such as 48GiB", s)
}

// loadModelConfig reads a model folder's config.json, or a config.json given directly.
func loadModelConfig(path string) (*model.Config, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return model.LoadConfig(path)
	}
	js, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return model.ParseConfig(js, filepath.Clean(path))
}

// configFlags are --preset, --config and --set, the three layers over the defaults.
type configFlags struct {
	preset, config *string
	sets           stringList
}

func addConfigFlags(fs *flag.FlagSet) *configFlags {
	c := &configFlags{
		preset: fs.String("preset", "", "start from this preset (qlora presets list)"),
		config: fs.String("config", "", "a run.yaml whose keys override the preset"),
	}
	fs.Var(&c.sets, "set", "override one key, key=value (repeatable; wins over --config)")
	return c
}

// layers reads the preset and the config file the flags name.
func (c *configFlags) layers() (run.Layers, error) {
	var l run.Layers
	if *c.preset != "" {
		p, err := run.LookupPreset(*c.preset)
		if err != nil {
			return l, err
		}
		l.Docs = append(l.Docs, p.Doc())
	}
	if *c.config != "" {
		d, err := run.ReadDoc(*c.config)
		if err != nil {
			return l, err
		}
		l.Docs = append(l.Docs, d)
	}
	l.Sets = c.sets
	return l, nil
}

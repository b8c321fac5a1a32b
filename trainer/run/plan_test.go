package run

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/plan"
)

const gib = int64(1) << 30

// TestPresets_FitOn48GB ensures each 48 GB preset fits its reference model on a 48 GiB card with at
// least 2 GiB to spare — 65b-48gb on LLaMA-65B being the headline of the product.
func TestPresets_FitOn48GB(t *testing.T) {
	cases := map[string]string{
		"65b-48gb": "llama-65b.json",
		"70b-48gb": "llama-3.1-70b.json",
		"34b-48gb": "codellama-34b.json",
		"13b-48gb": "llama-2-13b.json",
		"8b-48gb":  "llama-3.1-8b.json",
	}
	for id, file := range cases {
		t.Run(id, func(t *testing.T) {
			p := planPreset(t, id, file)
			spare := 48*gib - p.TotalBytes
			t.Logf("%s on %s: %.2f GiB planned, %.2f GiB spare", id, file, float64(p.TotalBytes)/float64(gib), float64(spare)/float64(gib))
			if spare < 2*gib {
				for _, c := range p.Components {
					t.Logf("  %-45s %8.2f GiB", c.Name, float64(c.Bytes)/float64(gib))
				}
				t.Errorf("%s needs %.2f GiB of 48: less than 2 GiB to spare", id, float64(p.TotalBytes)/float64(gib))
			}
		})
	}
}

func planPreset(t *testing.T, id, file string) plan.Plan {
	t.Helper()
	js, err := os.ReadFile(filepath.Join("../plan/testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	mc, err := model.ParseConfig(js, file)
	if err != nil {
		t.Fatal(err)
	}
	preset, err := LookupPreset(id)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Layers{Docs: []Doc{preset.Doc()}}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Make(c.PlanRequest(mc, plan.CUDA))
	if err != nil {
		t.Fatal(fmt.Errorf("%s: %w", id, err))
	}
	return p
}

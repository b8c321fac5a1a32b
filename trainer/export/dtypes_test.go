package export

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/internal/fixtures"
	"github.com/qlora-studio/qlora-studio/trainer/gguf"
	"github.com/qlora-studio/qlora-studio/trainer/run"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// TestDTypes_SetDType ensures every dtype a format lists is one SetDType accepts for it, that the
// others are refused naming the format, and that the defaults are as documented.
func TestDTypes_SetDType(t *testing.T) {
	cases := []struct {
		format  Format
		names   []string
		def     string
		refused string
	}{
		{PEFT, []string{"bf16", "f16", "f32"}, "f32", "q8_0"},
		{Merged, []string{"bf16", "f16", "f32"}, "", "q8_0"},
		{BnB4, []string{"bf16", "f16", "f32"}, "", "nf4"},
		{GGUF, []string{"f32", "f16", "bf16", "q8_0"}, "f16", "int4"},
	}
	for _, c := range cases {
		if got := DTypes(c.format); !slices.Equal(got, c.names) {
			t.Errorf("%s: DTypes %v, want %v", c.format, got, c.names)
		}
		if got := DefaultDType(c.format); got != c.def {
			t.Errorf("%s: default %q, want %q", c.format, got, c.def)
		}
		for _, name := range c.names {
			opt := Options{Format: c.format}
			if err := opt.SetDType(name); err != nil {
				t.Errorf("%s: SetDType(%q): %v", c.format, name, err)
			}
		}
		opt := Options{Format: c.format}
		if err := opt.SetDType(c.refused); err == nil {
			t.Errorf("%s: SetDType(%q) accepted", c.format, c.refused)
		}
	}
	opt := Options{Format: GGUF}
	if opt.SetDType(""); opt.GGUF != gguf.F16 {
		t.Errorf("GGUF without a dtype: %v, want F16", opt.GGUF)
	}
	opt = Options{Format: Merged}
	if err := opt.SetDType("bfloat16"); err != nil || opt.DType != safetensors.BF16 {
		t.Errorf("merged bfloat16: %v %v", opt.DType, err)
	}
	if err := opt.SetDType("q8_0"); err == nil || !strings.Contains(err.Error(), "merged") {
		t.Errorf("merged q8_0: %v", err)
	}
}

// TestExport_GGUF_ProgressRisesOnce ensures a GGUF export's progress counts the merge and the
// GGUF pass together: done never falls, the total never changes, and it ends at the total.
func TestExport_GGUF_ProgressRisesOnce(t *testing.T) {
	baseDir := filepath.Join(t.TempDir(), "base")
	if err := fixtures.ChatModel(baseDir, 3); err != nil {
		t.Fatal(err)
	}
	ad := randomAdapter(t, baseDir, 4, 8, run.AllLinear, 2)
	var seen [][2]int
	opt := Options{Format: GGUF, GGUF: gguf.F16, Progress: func(done, total int) { seen = append(seen, [2]int{done, total}) }}
	if _, err := Export(context.Background(), fakeRun(t, baseDir, ad, 0, 2), filepath.Join(t.TempDir(), "gguf"), opt); err != nil {
		t.Fatal(err)
	}
	if len(seen) < 2 {
		t.Fatalf("progress %v", seen)
	}
	total := seen[0][1]
	for i, p := range seen {
		if p[1] != total || (i > 0 && p[0] < seen[i-1][0]) {
			t.Fatalf("progress %v: falls or changes its total at %d", seen, i)
		}
	}
	if last := seen[len(seen)-1]; last[0] != total {
		t.Errorf("progress ends at %v", last)
	}
}

package export

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/internal/tinymodel"
	"github.com/qlora-studio/qlora-studio/trainer/lora"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// TestExport_Cancelled ensures an export cancelled halfway, in every format, returns
// context.Canceled and leaves nothing behind: no temporary folder, no output, not even the parent
// folders it had to create.
func TestExport_Cancelled(t *testing.T) {
	baseDir := writeBase(t, smallShape)
	runDir := fakeRun(t, baseDir, randomAdapter(t, baseDir, 4, 8, someTargets, 8), 0, 1)
	for _, format := range []Format{Merged, BnB4, PEFT} {
		t.Run(string(format), func(t *testing.T) {
			parent := t.TempDir()
			out := filepath.Join(parent, "exports", "new", "model")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, err := Export(ctx, runDir, out, Options{Format: format, MaxShardBytes: 100_000,
				Progress: func(done, total int) {
					if done >= 3 || done == total {
						cancel()
					}
				}})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("error %v, want context.Canceled", err)
			}
			emptyDir(t, parent)
		})
	}
}

// TestExport_Refusals ensures requests that cannot succeed fail before writing, with errors that
// say what is wrong, and leave nothing behind.
func TestExport_Refusals(t *testing.T) {
	baseDir := writeBase(t, smallShape)
	ad := randomAdapter(t, baseDir, 4, 8, someTargets, 10)
	runDir := fakeRun(t, baseDir, ad, 0, 1)
	other := writeBase(t, tinyShapeOther)
	noBase := fakeRun(t, filepath.Join(t.TempDir(), "gone"), ad, 0, 1)
	exists := t.TempDir()
	partial := filepath.Join(t.TempDir(), "partial")
	if err := lora.Save(partial, &lora.Adapter{Config: ad.Config, Modules: ad.Modules[1:]}, safetensors.F32); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, from string
		opt        Options
		out, want  string
	}{
		{"unknown format", runDir, Options{Format: "onnx"}, "", `format "onnx"`},
		{"output exists", runDir, Options{Format: Merged}, exists, "already exists"},
		{"adapter of another base", runDir, Options{Format: Merged, Base: other}, "", "the base model needs"},
		{"base gone", noBase, Options{Format: Merged}, "", "--base DIR"},
		{"not a run", baseDir, Options{Format: Merged}, "", "neither a run folder"},
		{"incomplete adapter", partial, Options{Format: Merged, Base: baseDir}, "", "no weights for model.layers.0.self_attn.q_proj"},
		{"bad merge base", runDir, Options{Format: BnB4, MergeInto: "fp8"}, "", `merge into "fp8"`},
		{"bad dtype", runDir, Options{Format: Merged, DType: safetensors.I8}, "", `dtype "I8"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			parent := t.TempDir()
			out := c.out
			if out == "" {
				out = filepath.Join(parent, "out")
			}
			_, err := Export(context.Background(), c.from, out, c.opt)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
			emptyDir(t, parent)
		})
	}
}

// tinyShapeOther is smallShape with a narrower MLP: an adapter of one does not fit the other.
var tinyShapeOther = tinymodel.Shape{Arch: "llama", Vocab: 300, Hidden: 96, Intermediate: 128, Layers: 2, Heads: 6, KVHeads: 2}

package export

import (
	"context"
	"os"
	"path/filepath"

	"github.com/qlora-studio/qlora-studio/trainer/gguf"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// exportGGUF merges the adapter into a scratch Hugging Face folder beside out (at the base's dtype, or
// F32 when the GGUF keeps F32 or quantizes, so rounding happens once), then streams that folder into
// one GGUF file in out, tensor by tensor. The scratch folder is removed whatever happens. Progress
// counts the tensors of both passes, so it rises once from 0 to all.
func exportGGUF(ctx context.Context, ckpt *Checkpoint, out string, opt Options) (Result, error) {
	parent := filepath.Dir(filepath.Clean(out))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return Result{}, err
	}
	scratch, err := os.MkdirTemp(parent, "."+filepath.Base(out)+".merge-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(scratch)
	merged := opt
	merged.Format = Merged
	if opt.GGUF == gguf.F32 || opt.GGUF == gguf.Q8_0 {
		merged.DType = safetensors.F32
	}
	var mergeProgress, writeProgress func(done, total int)
	if opt.Progress != nil {
		mergedTensors := 0
		mergeProgress = func(done, total int) {
			mergedTensors = total
			opt.Progress(done, 2*total)
		}
		writeProgress = func(done, total int) { opt.Progress(mergedTensors+done, mergedTensors+total) }
	}
	merged.Progress = mergeProgress
	res, err := exportModel(ctx, ckpt, filepath.Join(scratch, "merged"), merged)
	if err != nil {
		return Result{}, err
	}
	name := filepath.Base(filepath.Clean(out))
	plan, err := gguf.PlanHF(res.Path, gguf.Options{Type: opt.GGUF, Name: name, Progress: writeProgress})
	if err != nil {
		return Result{}, err
	}
	defer plan.Close()
	need, err := plan.Size()
	if err != nil {
		return Result{}, err
	}
	size, err := stage(ctx, out, need, func(tmp string) error {
		return plan.Write(filepath.Join(tmp, gguf.FileName(name, opt.GGUF)))
	})
	if err != nil {
		return Result{}, err
	}
	res.Format, res.Path, res.Bytes, res.GGUF, res.Warnings = GGUF, absolute(out), size, opt.GGUF, plan.Warnings
	return res, nil
}

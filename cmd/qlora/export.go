package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/trainer/export"
	"github.com/qlora-studio/qlora-studio/trainer/run"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

const exportSynopsis = "RUN_DIR_OR_CHECKPOINT --format peft|merged|bnb4|gguf [--dtype bf16|f16|f32|q8_0] [--merge-into original|nf4] [--base DIR] [--max-shard-gb N] [--json] [--progress] --out DIR"

func runExport(args []string, stdout, stderr io.Writer) error {
	// Listen before anything is written: a Ctrl-C or SIGTERM then cancels the export, which
	// removes its temporary folder, instead of killing the process with half a model on disk.
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer cancel()
	fs := newFlags("export", exportSynopsis, stderr)
	format := fs.String("format", "", "peft (the adapter), merged (a Hugging Face model), bnb4 (merged, then 4-bit NF4) or gguf (merged, one llama.cpp file)")
	dtype := fs.String("dtype", "", "weights' dtype: bf16, f16 or f32 (default: the base's; f32 for peft); for gguf also q8_0 (default f16)")
	into := fs.String("merge-into", "", "original (the 16-bit base; the default when there is one) or nf4 (the dequantized NF4 base QLoRA trained against; the only choice for a pre-quantized base)")
	base := fs.String("base", "", "base model folder (default: the run's base_model)")
	out := fs.String("out", "", "folder to create (must not exist)")
	shardGB := fs.Float64("max-shard-gb", 0, "largest safetensors shard, in GiB (default 5; 2 for bnb4)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	progressLines := fs.Bool("progress", false, `print progress on stdout before the result, one JSON line per tensor: {"type":"progress","done":N,"total":M}`)
	lf := addLibraryFlags(fs, true)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	opt, err := exportOptions(pos, *format, *dtype, *into, *out)
	if err != nil {
		return err
	}
	opt.Base, opt.MaxShardBytes = *base, int64(*shardGB*(1<<30))
	if opt.Base == "" && !lf.off {
		opt.Base = libraryBase(lf, pos[0])
	}
	progress := newProgress(stderr, "export "+*format)
	opt.Progress = progress.update
	if *progressLines {
		opt.Progress = func(done, total int) {
			progress.update(done, total)
			json.NewEncoder(stdout).Encode(export.ProgressLine{Type: export.ProgressType, Done: done, Total: total})
		}
	}
	start := time.Now()
	res, err := export.Export(ctx, pos[0], *out, opt)
	progress.finish()
	if errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "export stopped; nothing was written to %s\n", *out)
		return exitCode(exitStopped)
	}
	if err != nil {
		return err
	}
	if !lf.off {
		if err := recordExport(lf, res); err != nil {
			fmt.Fprintf(stderr, "warning: the export is written, but not recorded in the library: %v\n", err)
		}
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "wrote %s in %.1fs: %s\n", res.Path, time.Since(start).Seconds(), describeExport(res))
	for _, w := range res.Warnings {
		fmt.Fprintf(stderr, "note: %s\n", w)
	}
	return nil
}

// exportOptions checks the flags that do not need the files.
func exportOptions(pos []string, format, dtype, into, out string) (export.Options, error) {
	if len(pos) != 1 || out == "" || format == "" {
		return export.Options{}, fmt.Errorf("%w: qlora export %s", errUsage, exportSynopsis)
	}
	opt := export.Options{Format: export.Format(format), MergeInto: export.MergeInto(into)}
	switch opt.Format {
	case export.PEFT:
		if into != "" {
			return opt, fmt.Errorf("%w: --merge-into is for merged and bnb4 exports; an adapter is not merged", errUsage)
		}
	case export.Merged, export.BnB4, export.GGUF:
		if into != "" && opt.MergeInto != export.MergeOriginal && opt.MergeInto != export.MergeNF4 {
			return opt, fmt.Errorf("%w: --merge-into %q: want original or nf4", errUsage, into)
		}
	default:
		return opt, fmt.Errorf("%w: --format %q: want peft, merged, bnb4 or gguf", errUsage, format)
	}
	if err := opt.SetDType(dtype); err != nil {
		return opt, fmt.Errorf("%w: --dtype: %v", errUsage, err)
	}
	return opt, nil
}

// describeExport says in a line what was written from what.
func describeExport(r export.Result) string {
	word := dtypeWord[r.DType]
	if r.Format == export.GGUF {
		word = "matrices " + strings.ToLower(r.GGUF.String()) + ", merged at " + word
	}
	s := fmt.Sprintf("%s, %s", r.Format, word)
	if r.MergeInto != "" {
		s += ", merged into the " + string(r.MergeInto) + " base"
	}
	if r.Step > 0 {
		s += fmt.Sprintf(", from the checkpoint of step %d", r.Step)
		if r.Best {
			s += " (best)"
		}
	}
	return s + fmt.Sprintf(", %.1f MiB", float64(r.Bytes)/(1<<20))
}

var dtypeWord = map[safetensors.DType]string{safetensors.BF16: "bf16", safetensors.F16: "f16", safetensors.F32: "f32"}

// recordExport lists the export on its run in the library. An export of a run the library does not
// know (a bare adapter folder, a run trained with --no-library) is not recorded.
func recordExport(lf *libraryFlags, res export.Result) error {
	lib, err := lf.open()
	if err != nil {
		return err
	}
	defer lib.Close()
	r, err := lib.FindRun(runFolder(res.Checkpoint))
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = lib.AddExport(storage.Export{Run: r.ID, Kind: storage.ExportKinds[string(res.Format)], Path: res.Path, Step: res.Step, Bytes: res.Bytes})
	return err
}

// runFolder is the run folder of path, a run folder or one of its checkpoints.
func runFolder(path string) string {
	dir, _ := filepath.Abs(path)
	if filepath.Base(filepath.Dir(dir)) == run.CheckpointsDir {
		return filepath.Dir(filepath.Dir(dir))
	}
	return dir
}

// libraryBase is the base model folder the library gave the run at path (a run folder or one of
// its checkpoints), or "" when the library does not know it. A run trained from the library names
// the library's NF4 cache in its run.yaml, which only this program reads: without this, "original"
// would find no 16-bit base and merges would go into the dequantized NF4 one.
func libraryBase(lf *libraryFlags, path string) string {
	lib, err := lf.open()
	if err != nil {
		return ""
	}
	defer lib.Close()
	r, err := lib.FindRun(runFolder(path))
	if err != nil {
		return ""
	}
	return r.BaseModel
}

package app

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/trainer/export"
	"github.com/qlora-studio/qlora-studio/trainer/run"
	"github.com/qlora-studio/qlora-studio/ui"
)

// ExportLibrary is what exports need of the library. *storage.Library has it.
type ExportLibrary interface {
	Runs() ([]storage.Run, error)
	Run(id uint64) (storage.Run, error)
	Exports(id uint64) ([]storage.Export, error)
	AddExport(e storage.Export) (storage.Export, error)
}

// Exporter writes a run's exports for the export screen with the engine as a child (`qlora export
// --progress --json --no-library`, the library being the app's), and records each on its run.
type Exporter struct {
	ExportLibrary
	Engine Engine
}

// exportTitles are the formats as the export screen names them.
var exportTitles = map[export.Format]string{
	export.PEFT:   "PEFT adapter",
	export.Merged: "Merged model (Hugging Face)",
	export.BnB4:   "Merged model, bitsandbytes 4-bit",
	export.GGUF:   "GGUF (llama.cpp, Ollama)",
}

// ExportFormats lists the formats with the dtypes each accepts (trainer/export says which).
func (x Exporter) ExportFormats() []ui.ExportFormat {
	out := make([]ui.ExportFormat, len(export.Formats))
	for i, f := range export.Formats {
		out[i] = ui.ExportFormat{ID: string(f), Title: exportTitles[f], DTypes: export.DTypes(f), Default: export.DefaultDType(f)}
	}
	return out
}

// Export writes the export in an engine child, handing its progress over as it comes, and
// records it on its run. Cancelling ctx stops the child (SIGTERM), which removes what it wrote.
func (x Exporter) Export(ctx context.Context, req ui.ExportRequest, progress func(done, total int)) (storage.Export, error) {
	r, err := x.Run(req.Run)
	if err != nil {
		return storage.Export{}, err
	}
	from := r.Dir
	if req.Step > 0 {
		from = run.CheckpointDir(r.Dir, req.Step)
	}
	args := []string{"export", from, "--format", req.Format, "--out", req.Out, "--progress", "--json", "--no-library"}
	if req.DType != "" {
		args = append(args, "--dtype", req.DType)
	}
	if r.BaseModel != "" {
		// The base the run was given: its run.yaml may name the library's NF4 cache instead.
		args = append(args, "--base", r.BaseModel)
	}
	var res *export.Result
	var bad error
	err = x.Engine.run(ctx, engineCommand{args: args, stdout: func(line string) {
		var p export.ProgressLine
		switch {
		case json.Unmarshal([]byte(line), &p) != nil:
			bad = fmt.Errorf("qlora export printed %q, not JSON", line)
		case p.Type == export.ProgressType:
			progress(p.Done, p.Total)
		default:
			res = new(export.Result)
			if err := json.Unmarshal([]byte(line), res); err != nil {
				bad = err
			}
		}
	}})
	switch {
	case err != nil:
		return storage.Export{}, err
	case bad != nil:
		return storage.Export{}, bad
	case res == nil:
		return storage.Export{}, fmt.Errorf("qlora export wrote %s but said nothing of it", req.Out)
	}
	path, err := filepath.Abs(res.Path)
	if err != nil {
		return storage.Export{}, err
	}
	return x.AddExport(storage.Export{Run: r.ID, Kind: storage.ExportKinds[string(res.Format)], Path: path, Step: res.Step, Bytes: res.Bytes})
}

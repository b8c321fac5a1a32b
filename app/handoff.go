package app

import (
	"fmt"
	"path/filepath"

	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/trainer/axolotl"
	"github.com/qlora-studio/qlora-studio/trainer/run"
	"github.com/qlora-studio/qlora-studio/trainer/runimport"
	"github.com/qlora-studio/qlora-studio/ui"
)

// Cluster is the library as the cluster dialogs use it (ui.Cluster): it hands a run to axolotl
// and imports a run trained elsewhere, in the app's own process, as `qlora handoff` and `qlora
// runs import` do. Neither trains; both only read and write files, and record in the library the
// app holds.
type Cluster struct {
	Lib *storage.Library
}

// RunNames are the library's runs, oldest first.
func (c Cluster) RunNames() ([]string, error) {
	runs, err := c.Lib.Runs()
	names := make([]string, len(runs))
	for i, r := range runs {
		names[i] = r.Name
	}
	return names, err
}

// ModelNames are the library's models.
func (c Cluster) ModelNames() ([]string, error) {
	models, err := c.Lib.Models()
	names := make([]string, len(models))
	for i, m := range models {
		names[i] = m.Name
	}
	return names, err
}

// HandOff writes the folder axolotl needs to train the run, and says what it wrote.
func (c Cluster) HandOff(req ui.HandoffRequest) (string, error) {
	doc := run.Doc{Source: "the new-run form's configuration", YAML: req.Config}
	if req.Config == nil {
		r, err := c.Lib.FindRun(req.Run)
		if err != nil {
			return "", err
		}
		if doc, err = c.Lib.RunDoc(r.ID); err != nil {
			return "", err
		}
	}
	cfg, err := run.Layers{Docs: []run.Doc{doc}}.Resolve()
	if err != nil {
		return "", err
	}
	res, err := axolotl.Handoff(cfg, req.Out, axolotl.HandoffOptions{BaseModel: req.BaseModel, Name: filepath.Base(req.Out)})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Wrote %s: %s and %d %s rows. On the cluster, from inside it: axolotl train %s. "+
		"%s has the commands for several nodes and the %d settings that did not carry over as they were.",
		res.Dir, axolotl.ConfigFile, res.Rows, res.Shape, axolotl.ConfigFile, axolotl.ReadmeFile, len(res.Notes)), nil
}

// ImportRun writes the adapter folder as a run folder in the library's runs folder and records it.
func (c Cluster) ImportRun(req ui.ImportRequest) (string, error) {
	opt := runimport.Options{Config: req.Config}
	if req.Model != "" {
		m, err := c.Lib.Model(req.Model)
		if err != nil {
			return "", err
		}
		opt.BaseModel = m.Path
	}
	dir := runimport.FreeDir(filepath.Join(c.Lib.Dir(), storage.RunsDir), filepath.Base(filepath.Clean(req.Adapter)))
	res, err := runimport.Import(req.Adapter, dir, opt)
	if err != nil {
		return "", err
	}
	r, err := c.Lib.AdoptRun(dir)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Imported run %s: %d steps, %d evaluations, %d checkpoints; %d settings did not carry over as they were.",
		r.Name, res.Points, res.Evals, len(res.Checkpoints), len(res.Notes)), nil
}

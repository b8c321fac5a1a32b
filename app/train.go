package app

import (
	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/plan"
	"github.com/qlora-studio/qlora-studio/trainer/run"
	"github.com/qlora-studio/qlora-studio/ui"
)

// Trainer is the memory planner and the supervisor as the new-run form uses them (ui.TrainEngine).
// It plans with the code `qlora plan` runs, so that the two agree to the byte.
type Trainer struct {
	Library    Library
	Supervisor *Supervisor
}

// PlanMemory plans the configuration for the library model on the GPU backend against memory
// bytes, as `qlora plan --model DIR --gpu-memory BYTES` does.
func (t Trainer) PlanMemory(modelName string, c run.Config, memory int64) (plan.Report, error) {
	m, err := t.Library.Model(modelName)
	if err != nil {
		return plan.Report{}, err
	}
	mc, err := model.LoadConfig(m.Path)
	if err != nil {
		return plan.Report{}, err
	}
	return plan.Against(c.PlanRequest(mc, plan.CUDA), memory)
}

// RunYAML is the run.yaml the supervisor would start the request with.
func (t Trainer) RunYAML(r ui.TrainRequest) ([]byte, error) {
	req, err := runRequest(r)
	if err != nil {
		return nil, err
	}
	m, err := t.Library.Model(req.Model)
	if err != nil {
		return nil, err
	}
	d, err := t.Library.Dataset(req.Dataset)
	if err != nil {
		return nil, err
	}
	cfg, err := resolveConfig(req, m, d)
	if err != nil {
		return nil, err
	}
	return cfg.Marshal()
}

// StartRun records the run and starts the engine on it.
func (t Trainer) StartRun(r ui.TrainRequest) (uint64, error) {
	req, err := runRequest(r)
	if err != nil {
		return 0, err
	}
	started, err := t.Supervisor.Start(req)
	return started.ID, err
}

// runRequest is the form's request as the supervisor takes it: the whole configuration as the
// layer over the defaults, no preset under it.
func runRequest(r ui.TrainRequest) (RunRequest, error) {
	yaml, err := r.Config.Marshal()
	// The built-in preset goes under the form's configuration, which sets every key: it is there
	// for the record.
	return RunRequest{Name: r.Name, Model: r.Model, Dataset: r.Dataset, Preset: r.Preset, Config: yaml}, err
}

package storage

import (
	"strings"

	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/plan"
	"github.com/qlora-studio/qlora-studio/trainer/run"
)

// PlanFor is the planner's estimate for a run of cfg on the backend it will use (named as
// backend.Backend.Name names it: "cpu-float32", "cuda"…), as a run records it; nil when it cannot
// be made (the engine then says why the run cannot start).
func PlanFor(cfg *run.Config, backendName string) *Plan {
	mc, err := model.LoadConfig(cfg.BaseModel)
	if err != nil {
		return nil
	}
	kind := plan.CPU
	if strings.HasPrefix(backendName, "cuda") {
		kind = plan.CUDA
	}
	p, err := plan.Make(cfg.PlanRequest(mc, kind))
	if err != nil {
		return nil
	}
	sp := &Plan{Backend: p.Backend, TotalBytes: p.TotalBytes}
	for _, c := range p.Components {
		sp.Components = append(sp.Components, PlanComponent{Name: c.Name, Bytes: c.Bytes})
	}
	return sp
}

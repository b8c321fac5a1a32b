package storage

import (
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/qlora-studio/qlora-studio/trainer/run"
)

// RunDoc is what run id trained with, as a configuration layer for another run or another
// trainer: its run.yaml, with the base model folder the run was given where run.yaml names the
// library's cached NF4 copy of it (which only this program reads).
func (l *Library) RunDoc(id uint64) (run.Doc, error) {
	r, err := l.Run(id)
	if err != nil {
		return run.Doc{}, err
	}
	rc, err := l.RunConfig(id)
	if err != nil {
		return run.Doc{}, err
	}
	doc := run.Doc{Source: "run " + r.Name, YAML: []byte(rc.YAML)}
	if r.BaseModel == "" {
		return doc, nil
	}
	keys := map[string]any{}
	if err := yaml.Unmarshal(doc.YAML, &keys); err != nil {
		return run.Doc{}, fmt.Errorf("run %s configuration: %w: %v", r.Name, ErrCorrupt, err)
	}
	keys["base_model"] = r.BaseModel
	doc.YAML, err = yaml.Marshal(keys)
	return doc, err
}

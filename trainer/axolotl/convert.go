package axolotl

import (
	"fmt"
	"maps"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/qlora-studio/qlora-studio/trainer/run"
)

// Options are what a handoff knows beyond the configuration.
type Options struct {
	Rows      int    // the training rows written: a val_set_size that counts rows becomes their fraction
	OutputDir string // axolotl's output_dir; "" is DefaultOutputDir
}

// DefaultOutputDir is where axolotl writes its checkpoints and final adapter unless told.
const DefaultOutputDir = "./outputs/qlora"

// ToAxolotl maps a run configuration to axolotl's keys. Every key of ours that axolotl cannot
// express, or whose value changed on the way, comes back as a Note. The datasets are not set here:
// WriteDataset writes the data and returns their entries.
func ToAxolotl(c run.Config, opt Options) (*Config, []Note, error) {
	b, err := c.Marshal()
	if err != nil {
		return nil, nil, err
	}
	keys := map[string]any{}
	if err := yaml.Unmarshal(b, &keys); err != nil {
		return nil, nil, err
	}
	s := source{Config: c, keys: keys, opt: opt}
	out := NewConfig()
	var n Notes
	for _, m := range mappings {
		if err := m.to(s, out, &n); err != nil {
			return nil, nil, err
		}
	}
	for _, k := range slices.Sorted(maps.Keys(oursOnly)) {
		n.add(Ours, k, keys[k], "%s", oursOnly[k])
	}
	if opt.OutputDir == "" {
		opt.OutputDir = DefaultOutputDir
	}
	out.Set("output_dir", opt.OutputDir, "")
	out.Set("bf16", "auto", "")
	out.Set("flash_attention", true, "")
	out.Set("logging_steps", 1, "every step in trainer_state.json, for qlora runs import")
	return out, n, nil
}

// Read is an axolotl configuration read back into our keys.
type Read struct {
	// Layer holds our keys, a configuration layer (see Doc) for what axolotl trained with. Keys
	// the axolotl file leaves out take axolotl's documented defaults, which differ from ours.
	Layer map[string]any

	// ChatTemplateJinja is the Jinja source of a chat template that none of our built-ins is:
	// store it as a .jinja file and name the file in chat_template.
	ChatTemplateJinja string

	// Notes name every axolotl key that has no counterpart here, or a value none of ours takes.
	Notes Notes
}

// FromAxolotl reads an axolotl YAML configuration (named source in errors) into our keys.
func FromAxolotl(b []byte, source string) (*Read, error) {
	in := map[string]any{}
	if err := yaml.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	merged := maps.Clone(documentedDefaults)
	for k, v := range in {
		if v != nil { // an empty key is unset: the default applies
			merged[k] = v
		}
	}
	r := &Read{Layer: map[string]any{}}
	used := map[string]bool{}
	for _, m := range mappings {
		m.from(merged, r)
		for _, k := range m.theirs {
			used[k] = true
		}
	}
	r.readDatasets(merged)
	used["datasets"], used["test_datasets"] = true, true
	for _, k := range slices.Sorted(maps.Keys(in)) {
		if used[k] || in[k] == nil {
			continue
		}
		what, ok := setForCluster[k]
		if !ok {
			what = "no such setting here; left out"
		}
		r.Notes.add(Axolotl, k, in[k], "%s", what)
	}
	return r, nil
}

// Doc is the layer as a run configuration document, named source in errors.
func (r *Read) Doc(source string) (run.Doc, error) {
	b, err := yaml.Marshal(r.Layer)
	return run.Doc{Source: source, YAML: b}, err
}

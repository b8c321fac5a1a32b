package run

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/qlora-studio/qlora-studio/assets"
	"go.yaml.in/yaml/v3"
)

// Preset is a built-in starting point: a title for people and a YAML layer of configuration keys.
type Preset struct {
	ID          string // the file name without .yaml; no spaces
	Title       string
	Description string
	YAML        []byte
}

// Presets lists the built-in presets, sorted by id.
func Presets() ([]Preset, error) {
	names, err := fs.Glob(assets.Presets, "presets/*.yaml")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	presets := make([]Preset, 0, len(names))
	for _, name := range names {
		p, err := readPreset(name)
		if err != nil {
			return nil, err
		}
		presets = append(presets, p)
	}
	return presets, nil
}

// LookupPreset returns the preset with the given id, or an error listing the ids there are.
func LookupPreset(id string) (Preset, error) {
	presets, err := Presets()
	if err != nil {
		return Preset{}, err
	}
	ids := make([]string, len(presets))
	for i, p := range presets {
		if p.ID == id {
			return p, nil
		}
		ids[i] = p.ID
	}
	return Preset{}, fmt.Errorf("no preset %q; the presets are %s", id, strings.Join(ids, ", "))
}

func readPreset(name string) (Preset, error) {
	b, err := fs.ReadFile(assets.Presets, name)
	if err != nil {
		return Preset{}, err
	}
	var meta struct {
		Title       string `yaml:"title"`
		Description string `yaml:"description"`
	}
	if err := yaml.Unmarshal(b, &meta); err != nil {
		return Preset{}, fmt.Errorf("preset %s: %w", name, err)
	}
	id := strings.TrimSuffix(path.Base(name), ".yaml")
	return Preset{ID: id, Title: meta.Title, Description: strings.TrimSpace(meta.Description), YAML: b}, nil
}

// Doc is the preset as a configuration layer.
func (p Preset) Doc() Doc { return Doc{Source: "preset " + p.ID, YAML: p.YAML} }

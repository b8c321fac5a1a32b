package runimport

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/qlora-studio/qlora-studio/trainer/axolotl"
	"github.com/qlora-studio/qlora-studio/trainer/lora"
	"github.com/qlora-studio/qlora-studio/trainer/run"
)

// TemplateFile is where an import keeps a chat template the axolotl configuration held as Jinja
// source and none of our built-ins is; chat_template names it.
const TemplateFile = "chat_template.jinja"

// configuration is what run.yaml of an imported run says: the keys the axolotl configuration and
// adapter_config.json record, the adapter's winning where they disagree (it is what the weights
// are), the base model given last.
type configuration struct {
	keys  map[string]any
	files map[string][]byte // besides run.yaml: the chat template the keys name
	notes []axolotl.Note
}

func newConfiguration(adapter *lora.AdapterConfig, yamlPath, base, runDir string) (*configuration, error) {
	c := &configuration{keys: map[string]any{}, files: map[string][]byte{}}
	if yamlPath != "" {
		if err := c.readAxolotl(yamlPath, runDir); err != nil {
			return nil, err
		}
	}
	if err := c.readAdapter(adapter); err != nil {
		return nil, err
	}
	if base != "" {
		c.keys["base_model"] = base
	}
	if _, err := c.resolve(); err != nil {
		return nil, err
	}
	return c, nil
}

// readAxolotl takes the keys of an axolotl configuration, and its Jinja chat template as a file.
func (c *configuration) readAxolotl(path, runDir string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	read, err := axolotl.FromAxolotl(b, path)
	if err != nil {
		return err
	}
	maps.Copy(c.keys, read.Layer)
	c.notes = append(c.notes, read.Notes...)
	if read.ChatTemplateJinja != "" {
		c.files[TemplateFile] = []byte(read.ChatTemplateJinja)
		c.keys["chat_template"] = filepath.Join(runDir, TemplateFile)
	}
	return nil
}

// readAdapter takes what adapter_config.json says of the LoRA and its base.
func (c *configuration) readAdapter(a *lora.AdapterConfig) error {
	targets, err := targetModules(a)
	if err != nil {
		return err
	}
	if len(a.LayersToTransform) > 0 {
		c.notes = append(c.notes, axolotl.Note{Side: lora.ConfigName, Key: "layers_to_transform", Value: a.LayersToTransform,
			What: "a run here adapts every layer; the adapter's layers are kept as they are"})
	}
	from := map[string]any{"lora_r": a.R, "lora_alpha": a.LoraAlpha, "lora_dropout": a.LoraDropout,
		"lora_target_modules": targets, "use_rslora": a.UseRSLoRA, "full_training": false}
	if a.BaseModelNameOrPath != "" {
		from["base_model"] = a.BaseModelNameOrPath
	}
	for _, k := range slices.Sorted(maps.Keys(from)) {
		if prev, ok := c.keys[k]; ok && fmt.Sprint(prev) != fmt.Sprint(from[k]) {
			c.notes = append(c.notes, axolotl.Note{Side: axolotl.Axolotl, Key: k, Value: prev,
				What: fmt.Sprintf("%s says %v, which is kept: it describes the weights", lora.ConfigName, from[k])})
		}
		c.keys[k] = from[k]
	}
	return nil
}

// targetModules are the projections the adapter's target_modules select, by PEFT's matching rule,
// in a layer it transforms.
func targetModules(a *lora.AdapterConfig) ([]string, error) {
	layer := 0
	if len(a.LayersToTransform) > 0 {
		layer = a.LayersToTransform[0]
	}
	var names []string
	for _, m := range lora.Modules {
		ok, err := a.Targets(layer, m)
		if err != nil {
			return nil, err
		}
		if ok {
			names = append(names, m[strings.LastIndexByte(m, '.')+1:])
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: target_modules %s selects none of the projections of a Llama-family layer", lora.ConfigName, a.TargetModules)
	}
	return names, nil
}

// resolve checks the keys as a run configuration: the import refuses what a run here could not be.
func (c *configuration) resolve() (run.Config, error) {
	b, err := yaml.Marshal(c.keys)
	if err != nil {
		return run.Config{}, err
	}
	cfg, err := run.Layers{Docs: []run.Doc{{Source: "the imported configuration", YAML: b}}}.Resolve()
	if err != nil {
		return run.Config{}, fmt.Errorf("%w\n%s", err, b)
	}
	return cfg, nil
}

// runYAML is run.yaml: the keys recorded, and a comment saying the others are unknown.
func (c *configuration) runYAML(src string) ([]byte, error) {
	b, err := yaml.Marshal(c.keys)
	if err != nil {
		return nil, err
	}
	head := fmt.Sprintf("# Imported from %s by qlora runs import. These keys are what the run's files record;\n"+
		"# the others were not recorded, and read as this program's defaults.\n", src)
	return append([]byte(head), b...), nil
}

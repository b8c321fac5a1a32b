package axolotl

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/qlora-studio/qlora-studio/internal/safefile"
	"github.com/qlora-studio/qlora-studio/trainer/data"
	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/run"
)

// The files of a handoff folder.
const (
	ConfigFile = "axolotl.yaml"   // the axolotl configuration
	OursFile   = "qlora-run.yaml" // our configuration it was made from, resolved
	ReadmeFile = "README.md"      // how to launch it, and what did not carry over
	TrainFile  = "data/train.jsonl"
	ValFile    = "data/val.jsonl"
)

// HandoffOptions say what a handoff needs besides the run configuration.
type HandoffOptions struct {
	// BaseModel is base_model as the cluster reaches it (a Hugging Face id, or a path there);
	// "" keeps the run's.
	BaseModel string
	// Name names axolotl's output folder (outputs/NAME); "" is "qlora".
	Name string
}

// Result says what a handoff wrote.
type Result struct {
	Dir   string     `json:"dir"`   // the handoff folder
	Shape data.Shape `json:"shape"` // of the training rows as read here
	Rows  int        `json:"rows"`  // training rows written
	Notes []Note     `json:"notes"` // every key that did not carry over as it was
}

// Handoff writes into the new folder dir what axolotl needs to train the run: axolotl.yaml, the
// data rewritten for axolotl under data/, our own configuration beside it, and a README with the
// launch commands for one node and several and the list of what did not carry over. The folder is
// built beside dir and renamed when complete; a failure leaves nothing.
func Handoff(cfg run.Config, dir string, opt HandoffOptions) (Result, error) {
	if _, err := os.Stat(dir); err == nil {
		return Result{}, fmt.Errorf("%s exists; name a new folder", dir)
	}
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return Result{}, err
	}
	tmp, err := os.MkdirTemp(parent, ".handoff-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	res, err := writeHandoff(cfg, tmp, opt)
	if err != nil {
		return Result{}, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return Result{}, err
	}
	res.Dir = dir
	return res, os.Rename(tmp, dir)
}

func writeHandoff(cfg run.Config, dir string, opt HandoffOptions) (Result, error) {
	var res Result
	ours, err := cfg.Marshal()
	if err != nil {
		return res, err
	}
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o755); err != nil {
		return res, err
	}
	datasets, tests, notes, err := writeData(&cfg, dir, &res)
	if err != nil {
		return res, err
	}
	if opt.BaseModel != "" && opt.BaseModel != cfg.BaseModel {
		notes.add(Ours, "base_model", cfg.BaseModel, "written as %s, where the cluster finds it", opt.BaseModel)
		cfg.BaseModel = opt.BaseModel
	}
	name := opt.Name
	if name == "" {
		name = "qlora"
	}
	out, mapped, err := ToAxolotl(cfg, Options{Rows: res.Rows, OutputDir: "./outputs/" + name})
	if err != nil {
		return res, err
	}
	out.Set("datasets", datasets, "")
	if tests != nil {
		out.Set("test_datasets", tests, "ours: val_dataset")
	}
	res.Notes = append(notes, mapped...)
	y, err := out.Marshal()
	if err != nil {
		return res, err
	}
	readme := readme(readmeFacts{name: name, result: res, layer: decoderLayer(cfg.BaseModel)})
	for file, b := range map[string][]byte{ConfigFile: y, OursFile: ours, ReadmeFile: readme} {
		if err := safefile.WriteFile(filepath.Join(dir, file), b); err != nil {
			return res, err
		}
	}
	return res, nil
}

// writeData writes the training file (and the validation file, read in the training file's
// shape) and returns their entries for datasets and test_datasets. A separate validation file wins
// over val_set_size, here as in axolotl ("either test_datasets, or val_set_size, but not both").
func writeData(cfg *run.Config, dir string, res *Result) ([]any, []any, Notes, error) {
	shape, err := data.ParseShape(cfg.DatasetFormat)
	if err != nil {
		return nil, nil, nil, err
	}
	train, err := WriteDataset(cfg.Dataset, shape, filepath.Join(dir, TrainFile), TrainFile, cfg.SkipBadRows)
	if err != nil {
		return nil, nil, nil, err
	}
	res.Shape, res.Rows = train.Shape, train.Rows
	if cfg.ValDataset == "" {
		return []any{train.Entry}, nil, train.Notes, nil
	}
	val, err := WriteDataset(cfg.ValDataset, train.Shape, filepath.Join(dir, ValFile), ValFile, cfg.SkipBadRows)
	if err != nil {
		return nil, nil, nil, err
	}
	val.Entry["split"] = "train" // "for json datasets the default split is called train" (docs/config.qmd)
	notes := append(train.Notes, val.Notes...)
	if cfg.ValSetSize > 0 {
		notes.add(Ours, "val_set_size", cfg.ValSetSize, "not written: val_dataset wins over it here too, and axolotl takes only one")
		cfg.ValSetSize = 0
	}
	return []any{train.Entry}, []any{val.Entry}, notes, nil
}

// decoderLayer is the transformers class of the base model's decoder layer, which FSDP wraps
// (transformer_layer_cls_to_wrap); "" when the base is not a model folder here.
func decoderLayer(base string) string {
	c, err := model.LoadConfig(base)
	if err != nil {
		return ""
	}
	return map[string]string{model.ArchLlama: "LlamaDecoderLayer", model.ArchMistral: "MistralDecoderLayer",
		model.ArchQwen2: "Qwen2DecoderLayer"}[c.Architecture]
}

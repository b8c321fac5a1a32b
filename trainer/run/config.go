package run

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Config is a run's resolved configuration: flat, with the names Hugging Face, PEFT, bitsandbytes
// and axolotl users already know, so a recipe from the web pastes in. It is written to run.yaml.
type Config struct {
	BaseModel     string `yaml:"base_model"`     // the model folder
	Dataset       string `yaml:"dataset"`        // the training data file
	DatasetFormat string `yaml:"dataset_format"` // auto, or one shape: alpaca, sharegpt, messages, completion, text, tokenized
	ValDataset    string `yaml:"val_dataset"`    // a separate validation file; else val_set_size splits the data
	ChatTemplate  string `yaml:"chat_template"`  // "" uses the model's; or llama2, llama3, chatml, mistral, alpaca, or a .jinja file
	SkipBadRows   bool   `yaml:"skip_bad_rows"`  // train on the good rows of a file with bad ones (they are listed)

	LearningRate              float64 `yaml:"learning_rate"`
	NumTrainEpochs            float64 `yaml:"num_train_epochs"`
	MaxSteps                  int     `yaml:"max_steps"` // > 0 overrides num_train_epochs
	MicroBatchSize            int     `yaml:"micro_batch_size"`
	GradientAccumulationSteps int     `yaml:"gradient_accumulation_steps"`
	LRSchedulerType           string  `yaml:"lr_scheduler_type"` // constant, linear, cosine
	WarmupSteps               int     `yaml:"warmup_steps"`      // > 0 wins over warmup_ratio
	WarmupRatio               float64 `yaml:"warmup_ratio"`
	WeightDecay               float64 `yaml:"weight_decay"`
	MaxGradNorm               float64 `yaml:"max_grad_norm"` // 0 turns clipping off
	Optim                     string  `yaml:"optim"`         // adamw_32bit, adamw_8bit
	AdamBeta1                 float64 `yaml:"adam_beta1"`
	AdamBeta2                 float64 `yaml:"adam_beta2"`
	AdamEpsilon               float64 `yaml:"adam_epsilon"`

	MaxSeqLength  int     `yaml:"max_seq_length"`
	Packing       bool    `yaml:"packing"`
	Shuffle       bool    `yaml:"shuffle"`
	Seed          uint64  `yaml:"seed"`
	TrainOnInputs bool    `yaml:"train_on_inputs"`
	ValSetSize    float64 `yaml:"val_set_size"` // a fraction in (0,1), or a number of rows ≥ 1; 0 = none

	EvalSteps              int     `yaml:"eval_steps"`               // 0 = no evaluation during training
	SaveSteps              int     `yaml:"save_steps"`               // 0 = checkpoints only at the end
	SaveTotalLimit         int     `yaml:"save_total_limit"`         // 0 = keep every checkpoint
	EarlyStoppingPatience  int     `yaml:"early_stopping_patience"`  // evaluations without improvement; 0 = off
	EarlyStoppingThreshold float64 `yaml:"early_stopping_threshold"` // the smallest improvement that counts
	EvalSamples            int     `yaml:"eval_samples"`             // validation prompts to generate for at each evaluation
	EvalSampleMaxTokens    int     `yaml:"eval_sample_max_tokens"`
	GradientCheckpointing  bool    `yaml:"gradient_checkpointing"`

	LoRAR             int      `yaml:"lora_r"`
	LoRAAlpha         float64  `yaml:"lora_alpha"`
	LoRADropout       float64  `yaml:"lora_dropout"`
	LoRATargetModules []string `yaml:"lora_target_modules"`
	UseRSLoRA         bool     `yaml:"use_rslora"`

	LoadIn4Bit            bool   `yaml:"load_in_4bit"` // false trains plain LoRA on the 16-bit base
	BnB4bitQuantType      string `yaml:"bnb_4bit_quant_type"`
	BnB4bitUseDoubleQuant bool   `yaml:"bnb_4bit_use_double_quant"`
	BnB4bitBlocksize      int    `yaml:"bnb_4bit_blocksize"`

	// FullTraining trains every weight of the model instead of LoRA adapters (CPU backend only;
	// needs load_in_4bit: false; the lora_ keys do not apply). Checkpoints are then complete model
	// folders (see full.go).
	FullTraining bool `yaml:"full_training"`
}

// AllLinear is every projection of a Llama-family layer, what "all-linear" means there.
var AllLinear = []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}

// Defaults are the values a key takes when no preset, file or --set gives it: Hugging Face's and
// PEFT's defaults where they suit QLoRA, QLoRA's own choices for quantization.
func Defaults() Config {
	return Config{
		DatasetFormat: "auto",
		LearningRate:  2e-4, NumTrainEpochs: 1, MicroBatchSize: 1, GradientAccumulationSteps: 1,
		LRSchedulerType: "linear", MaxGradNorm: 1, Optim: "adamw_32bit",
		AdamBeta1: 0.9, AdamBeta2: 0.999, AdamEpsilon: 1e-8,
		MaxSeqLength: 2048, Shuffle: true, Seed: 42, EvalSampleMaxTokens: 64,
		GradientCheckpointing: true,
		LoRAR:                 16, LoRAAlpha: 32, LoRADropout: 0.05, LoRATargetModules: AllLinear,
		LoadIn4Bit: true, BnB4bitQuantType: "nf4", BnB4bitUseDoubleQuant: true, BnB4bitBlocksize: 64,
	}
}

// Layers builds a configuration from the defaults, then each YAML document in order (a preset, a
// config file), then key=value overrides: later ones win. Unknown keys are refused with the source
// named, and the result is validated.
type Layers struct {
	Docs []Doc    // YAML documents, applied in order
	Sets []string // key=value overrides, applied last
}

// Doc is one YAML layer and where it came from, for error messages.
type Doc struct {
	Source string
	YAML   []byte
}

// Resolve applies the layers to the defaults and validates the result.
func (ls Layers) Resolve() (Config, error) {
	merged, err := toMap(Defaults())
	if err != nil {
		return Config{}, err
	}
	for _, d := range ls.Docs {
		m := map[string]any{}
		if err := yaml.Unmarshal(d.YAML, &m); err != nil {
			return Config{}, fmt.Errorf("%s: %w", d.Source, err)
		}
		if err := mergeKnown(merged, m, d.Source); err != nil {
			return Config{}, err
		}
	}
	for _, s := range ls.Sets {
		m, err := parseSet(s)
		if err != nil {
			return Config{}, err
		}
		if err := mergeKnown(merged, m, "--set "+s); err != nil {
			return Config{}, err
		}
	}
	var c Config
	if err := fromMap(merged, &c); err != nil {
		return Config{}, err
	}
	c.normalize()
	return c, c.Validate()
}

// ReadDoc reads a YAML file as a layer.
func ReadDoc(path string) (Doc, error) {
	b, err := os.ReadFile(path)
	return Doc{Source: path, YAML: b}, err
}

// parseSet reads key=value, the value as a YAML scalar or flow list ("[q_proj, v_proj]").
func parseSet(s string) (map[string]any, error) {
	key, value, ok := strings.Cut(s, "=")
	key = strings.TrimSpace(key)
	if !ok || key == "" {
		return nil, fmt.Errorf("--set %q: want key=value", s)
	}
	var v any
	if err := yaml.Unmarshal([]byte(value), &v); err != nil {
		return nil, fmt.Errorf("--set %s: %w", key, err)
	}
	return map[string]any{key: v}, nil
}

// mergeKnown copies m into merged, refusing keys the configuration does not have (with the nearest
// known key suggested, since a typo would otherwise silently train with a default).
func mergeKnown(merged, m map[string]any, source string) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "title" || k == "description" { // preset metadata
			continue
		}
		if _, ok := merged[k]; !ok {
			return fmt.Errorf("%s: unknown key %q%s", source, k, suggest(k, merged))
		}
		merged[k] = coerce(k, m[k])
	}
	return nil
}

// coerce accepts lora_target_modules as PEFT does: a list, "all-linear", or comma-separated names.
func coerce(key string, v any) any {
	s, ok := v.(string)
	if key != "lora_target_modules" || !ok {
		return v
	}
	if s == "all-linear" {
		return AllLinear
	}
	var list []string
	for _, name := range strings.Split(s, ",") {
		list = append(list, strings.TrimSpace(name))
	}
	return list
}

func toMap(c Config) (map[string]any, error) {
	b, err := yaml.Marshal(c)
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	return m, yaml.Unmarshal(b, &m)
}

func fromMap(m map[string]any, c *Config) error {
	b, err := yaml.Marshal(m)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	return nil
}

// suggest names the known key closest to k, when one is close.
func suggest(k string, known map[string]any) string {
	best, bestDist := "", 4
	for candidate := range known {
		if d := editDistance(k, candidate); d < bestDist || (d == bestDist && candidate < best) {
			best, bestDist = candidate, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// Marshal writes the configuration as run.yaml holds it.
func (c Config) Marshal() ([]byte, error) { return yaml.Marshal(c) }

// fileKeys are the keys that name a run's own files, which a preset leaves to each run.
var fileKeys = []string{"base_model", "dataset", "val_dataset"}

// PresetYAML writes the configuration as a preset layer: every key but those that name the run's
// files (base_model, dataset, val_dataset).
func (c Config) PresetYAML() ([]byte, error) {
	m, err := toMap(c)
	if err != nil {
		return nil, err
	}
	for _, k := range fileKeys {
		delete(m, k)
	}
	return yaml.Marshal(m)
}

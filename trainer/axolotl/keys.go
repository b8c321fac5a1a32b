package axolotl

import (
	"fmt"

	"github.com/qlora-studio/qlora-studio/trainer/run"
)

// mapping carries one setting across: the keys that hold it here and in axolotl, and how its
// value goes each way. Most are one key to one key with the same value (same); the others say why
// they differ beside them.
type mapping struct {
	ours   []string // run.Config's YAML keys
	theirs []string // axolotl's keys, as docs/config-reference.qmd names them
	to     func(s source, out *Config, n *Notes) error
	from   func(in map[string]any, r *Read)
}

// source is the configuration being handed off: typed, and as its YAML keys.
type source struct {
	run.Config
	keys map[string]any
	opt  Options
}

// Notes are what could not be carried across, one Note each.
type Notes []Note

func (n *Notes) add(side, key string, v any, what string, args ...any) {
	*n = append(*n, Note{Side: side, Key: key, Value: v, What: fmt.Sprintf(what, args...)})
}

// mappings is the table: every setting both tools have. The order is the order of the YAML
// written.
var mappings = []mapping{
	same("base_model", "base_model", text),
	adapterMapping,
	bnbMapping,
	loraOnly(same("lora_r", "lora_r", whole)),
	loraOnly(alphaMapping),
	loraOnly(same("lora_dropout", "lora_dropout", number)),
	loraOnly(targetsMapping),
	loraOnly(same("use_rslora", "peft_use_rslora", flag)),
	same("max_seq_length", "sequence_len", whole),
	same("packing", "sample_packing", flag),
	shuffleMapping,
	same("train_on_inputs", "train_on_inputs", flag),
	valSetMapping,
	chatTemplateMapping,
	same("micro_batch_size", "micro_batch_size", whole),
	same("gradient_accumulation_steps", "gradient_accumulation_steps", whole),
	same("num_train_epochs", "num_epochs", number),
	positive("max_steps", "max_steps"),
	same("learning_rate", "learning_rate", number),
	schedulerMapping,
	warmupMapping,
	optimizerMapping,
	same("adam_beta1", "adam_beta1", number),
	same("adam_beta2", "adam_beta2", number),
	same("adam_epsilon", "adam_epsilon", number),
	same("weight_decay", "weight_decay", number),
	same("max_grad_norm", "max_grad_norm", number),
	checkpointingMapping,
	evalStepsMapping,
	saveStepsMapping,
	positive("save_total_limit", "save_total_limit"),
	positive("early_stopping_patience", "early_stopping_patience"),
	same("seed", "seed", whole),
}

// oursOnly are our keys axolotl has no key for, with what becomes of each in a handoff.
var oursOnly = map[string]string{
	"early_stopping_threshold": "axolotl has no threshold key: its early stopping counts any improvement",
	"eval_samples":             "not carried: axolotl's nearest, eval_table_size, sends predictions to Weights & Biases",
	"eval_sample_max_tokens":   "not carried: axolotl's nearest, eval_max_new_tokens, goes with eval_table_size",
	"bnb_4bit_blocksize":       "not carried: transformers' BitsAndBytesConfig has no block size; bitsandbytes quantizes in blocks of 64",
	"skip_bad_rows":            "applied here: the data written holds only the good rows",
}

// dataKeys are our keys the dataset entries carry (datasets, test_datasets; see dataset.go).
var dataKeys = []string{"dataset", "dataset_format", "val_dataset"}

// setForCluster are axolotl keys a handoff sets that have no key here, and why.
var setForCluster = map[string]string{
	"output_dir":      "where axolotl writes checkpoints and the final adapter",
	"bf16":            "auto: bfloat16 where the GPU has it, as our CUDA backend computes",
	"flash_attention": "exact attention, faster and leaner than the default, as axolotl's QLoRA examples set it",
	"logging_steps":   "1: every step's loss in trainer_state.json, so the import charts every step",
	"datasets":        "the training data, rewritten in the layout its type reads",
	"test_datasets":   "the validation file, when the run has one",
}

// documentedDefaults are the values axolotl takes for keys absent from a configuration, from
// docs/config-reference.qmd (and docs/config.qmd for bnb_config_kwargs): reading a configuration
// back starts from them, since ours differ.
var documentedDefaults = map[string]any{
	"lr_scheduler":                "cosine",
	"optimizer":                   "adamw_torch_fused",
	"sequence_len":                512,
	"num_epochs":                  1.0,
	"micro_batch_size":            1,
	"gradient_accumulation_steps": 1,
	"weight_decay":                0.0,
	"lora_dropout":                0.0,
	"val_set_size":                0.0,
	"train_on_inputs":             false,
	"gradient_checkpointing":      false,
	"load_in_4bit":                false,
	"bnb_config_kwargs":           map[string]any{"bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": true},
}

// reader reads an axolotl value as our key wants it; ok is false when it cannot.
type reader func(any) (any, bool)

var (
	text   reader = func(v any) (any, bool) { return asString(v) }
	flag   reader = func(v any) (any, bool) { return asBool(v) }
	number reader = func(v any) (any, bool) { return asFloat(v) }
	whole  reader = func(v any) (any, bool) { return asInt(v) }
)

// same is a key that means the same on both sides, under its name on each.
func same(ours, theirs string, read reader) mapping {
	return mapping{ours: []string{ours}, theirs: []string{theirs},
		to: func(s source, out *Config, _ *Notes) error {
			out.Set(theirs, s.keys[ours], comment(ours, theirs))
			return nil
		},
		from: func(in map[string]any, r *Read) { readInto(in, r, theirs, ours, read) },
	}
}

// positive is a count where 0 means "off" here and absence means the same in axolotl.
func positive(ours, theirs string) mapping {
	m := same(ours, theirs, whole)
	m.to = func(s source, out *Config, _ *Notes) error {
		if v, _ := asInt(s.keys[ours]); v > 0 {
			out.Set(theirs, v, comment(ours, theirs))
		}
		return nil
	}
	return m
}

// evalStepsMapping: eval_steps 0 turns evaluation during training off, which axolotl says with
// eval_strategy "no". Left empty, axolotl evaluates at each epoch's end, which has no key here.
var evalStepsMapping = mapping{
	ours:   []string{"eval_steps"},
	theirs: []string{"eval_steps", "eval_strategy"},
	to: func(s source, out *Config, _ *Notes) error {
		if s.EvalSteps > 0 {
			out.Set("eval_steps", s.EvalSteps, "")
		} else {
			out.Set("eval_strategy", "no", "ours: eval_steps 0")
		}
		return nil
	},
	from: func(in map[string]any, r *Read) {
		strategy, hasStrategy := in["eval_strategy"]
		_, hasSteps := in["eval_steps"]
		switch {
		case strategy == "no":
			r.Layer["eval_steps"] = 0
		case hasSteps:
			readInto(in, r, "eval_steps", "eval_steps", whole)
		case hasStrategy:
			r.Notes.add(Axolotl, "eval_strategy", strategy, "no such setting here; eval_steps stays at its default")
		default:
			r.Notes.add(Axolotl, "eval_steps", nil, "absent: axolotl then evaluates at each epoch's end, which has no setting here; eval_steps stays at its default")
		}
	},
}

// readInto copies axolotl's key into ours when present and readable, and notes it otherwise.
func readInto(in map[string]any, r *Read, theirs, ours string, read reader) {
	v, ok := in[theirs]
	if !ok {
		return
	}
	if x, ok := read(v); ok {
		r.Layer[ours] = x
		return
	}
	r.Notes.add(Axolotl, theirs, v, "not a value %s can take; left out", ours)
}

// loraOnly writes a LoRA key only when the run trains an adapter.
func loraOnly(m mapping) mapping {
	to := m.to
	m.to = func(s source, out *Config, n *Notes) error {
		if s.FullTraining {
			return nil
		}
		return to(s, out, n)
	}
	return m
}

func comment(ours, theirs string) string {
	if ours == theirs {
		return ""
	}
	return "ours: " + ours
}

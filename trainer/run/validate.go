package run

import (
	"fmt"
	"slices"
	"strings"

	"github.com/qlora-studio/qlora-studio/trainer/data"
	"github.com/qlora-studio/qlora-studio/trainer/tokenizer"
)

// optimAliases maps the optimizer names recipes use to the two this engine has. Paging only
// matters when GPU memory runs out, which the planner prevents up front.
var optimAliases = map[string]string{
	"adamw_torch": "adamw_32bit", "adamw_hf": "adamw_32bit", "paged_adamw_32bit": "adamw_32bit",
	"adamw_bnb_8bit": "adamw_8bit", "paged_adamw_8bit": "adamw_8bit", "adamw_8bit": "adamw_8bit",
	"adamw_32bit": "adamw_32bit",
}

// Schedules are the learning-rate schedules lr_scheduler_type may name.
var Schedules = []string{"constant", "linear", "cosine"}

// Optimizers are the optimizers optim may name (after normalize has read the aliases).
var Optimizers = []string{"adamw_32bit", "adamw_8bit"}

// normalize rewrites synonyms to the canonical names: optimizer aliases, and the
// "constant_with_warmup" schedule name transformers uses.
func (c *Config) normalize() {
	if o, ok := optimAliases[c.Optim]; ok {
		c.Optim = o
	}
	if c.LRSchedulerType == "constant_with_warmup" {
		c.LRSchedulerType = "constant"
	}
}

// Validate checks every key against its allowed range; the error (a Problem) names the first key
// out of range, its value and the range.
func (c Config) Validate() error {
	if problems := c.Problems(); len(problems) > 0 {
		return problems[0]
	}
	return nil
}

// Problem is a key whose value is out of its allowed range.
type Problem struct {
	Key     string
	Value   any
	Allowed string
}

func (p Problem) Error() string {
	return fmt.Sprintf("%s: %v is out of range: want %s", p.Key, p.Value, p.Allowed)
}

// Problems lists every key out of its allowed range, in the order of the configuration; a key with
// two rules out of range is listed at its first.
func (c Config) Problems() []Problem {
	var out []Problem
	for _, r := range c.rules() {
		if !r.ok && !slices.ContainsFunc(out, func(p Problem) bool { return p.Key == r.key }) {
			out = append(out, Problem{Key: r.key, Value: r.value, Allowed: r.allowed})
		}
	}
	return out
}

// Allowed is the allowed range of a key as people read it ("1 to 4096"), for a form to show beside
// the field; "" for a key without one. A key with several rules has them joined by "; ".
func Allowed(key string) string {
	var texts []string
	for _, r := range (Config{}).rules() {
		if r.key == key {
			texts = append(texts, r.allowed)
		}
	}
	return strings.Join(texts, "; ")
}

// rule is one allowed range of a key, and whether the configuration's value is in it.
type rule struct {
	ok           bool
	key, allowed string
	value        any
}

// rules are the ranges of the keys: the one place both Validate and the app's form read them from.
func (c Config) rules() []rule {
	return []rule{
		{c.LearningRate > 0 && c.LearningRate <= 1, "learning_rate", "> 0 and ≤ 1", c.LearningRate},
		{c.NumTrainEpochs > 0 && c.NumTrainEpochs <= 1000 || c.MaxSteps > 0, "num_train_epochs", "> 0 and ≤ 1000 (or set max_steps)", c.NumTrainEpochs},
		{c.MaxSteps >= 0, "max_steps", "≥ 0 (0 = use num_train_epochs)", c.MaxSteps},
		{c.MicroBatchSize >= 1 && c.MicroBatchSize <= 4096, "micro_batch_size", "1 to 4096", c.MicroBatchSize},
		{c.GradientAccumulationSteps >= 1 && c.GradientAccumulationSteps <= 65536, "gradient_accumulation_steps", "1 to 65536", c.GradientAccumulationSteps},
		{slices.Contains(Schedules, c.LRSchedulerType), "lr_scheduler_type", oneOf(Schedules), c.LRSchedulerType},
		{c.WarmupSteps >= 0, "warmup_steps", "≥ 0", c.WarmupSteps},
		{c.WarmupRatio >= 0 && c.WarmupRatio < 1, "warmup_ratio", "≥ 0 and < 1", c.WarmupRatio},
		{c.WeightDecay >= 0 && c.WeightDecay < 1, "weight_decay", "≥ 0 and < 1", c.WeightDecay},
		{c.MaxGradNorm >= 0, "max_grad_norm", "≥ 0 (0 = no clipping)", c.MaxGradNorm},
		{slices.Contains(Optimizers, c.Optim), "optim", "adamw_32bit or adamw_8bit (or paged_/bnb_ spellings of them)", c.Optim},
		{c.AdamBeta1 >= 0 && c.AdamBeta1 < 1, "adam_beta1", "≥ 0 and < 1", c.AdamBeta1},
		{c.AdamBeta2 >= 0 && c.AdamBeta2 < 1, "adam_beta2", "≥ 0 and < 1", c.AdamBeta2},
		{c.AdamEpsilon > 0 && c.AdamEpsilon < 1, "adam_epsilon", "> 0 and < 1", c.AdamEpsilon},
		{c.MaxSeqLength >= 16 && c.MaxSeqLength <= 1<<20, "max_seq_length", "16 to 1048576", c.MaxSeqLength},
		{c.ValSetSize >= 0 && (c.ValSetSize < 1 || c.ValSetSize == float64(int(c.ValSetSize))), "val_set_size", "≥ 0: a fraction below 1, or a whole number of rows (0 = none)", c.ValSetSize},
		{c.EvalSteps >= 0, "eval_steps", "≥ 0 (0 = no evaluation during training)", c.EvalSteps},
		{c.SaveSteps >= 0, "save_steps", "≥ 0 (0 = checkpoint only at the end)", c.SaveSteps},
		{c.SaveTotalLimit >= 0, "save_total_limit", "≥ 0 (0 = keep all)", c.SaveTotalLimit},
		{c.EarlyStoppingPatience >= 0, "early_stopping_patience", "≥ 0 (0 = off)", c.EarlyStoppingPatience},
		{c.EarlyStoppingPatience == 0 || c.EvalSteps > 0, "early_stopping_patience", "0 unless eval_steps > 0 (it counts evaluations)", c.EarlyStoppingPatience},
		{c.EarlyStoppingThreshold >= 0, "early_stopping_threshold", "≥ 0", c.EarlyStoppingThreshold},
		{c.EvalSamples >= 0, "eval_samples", "≥ 0", c.EvalSamples},
		{c.EvalSampleMaxTokens >= 1, "eval_sample_max_tokens", "≥ 1", c.EvalSampleMaxTokens},
		{c.LoRAR >= 1 && c.LoRAR <= 4096, "lora_r", "1 to 4096", c.LoRAR},
		{c.LoRAAlpha > 0, "lora_alpha", "> 0", c.LoRAAlpha},
		{c.LoRADropout >= 0 && c.LoRADropout < 1, "lora_dropout", "≥ 0 and < 1", c.LoRADropout},
		{validTargets(c.LoRATargetModules), "lora_target_modules", "a non-empty list of " + strings.Join(AllLinear, ", ") + ", or all-linear", c.LoRATargetModules},
		{c.BnB4bitQuantType == "nf4", "bnb_4bit_quant_type", "nf4 (fp4 is not supported)", c.BnB4bitQuantType},
		{validBlocksize(c.BnB4bitBlocksize), "bnb_4bit_blocksize", "a power of two from 32 to 4096", c.BnB4bitBlocksize},
		{validShape(c.DatasetFormat), "dataset_format", "auto or one of " + shapeNames(), c.DatasetFormat},
		{validTemplate(c.ChatTemplate), "chat_template", "empty (the model's own), a .jinja file, or " + oneOf(tokenizer.BuiltinChatTemplates()), c.ChatTemplate},
		{!c.FullTraining || !c.LoadIn4Bit, "full_training", "false while load_in_4bit is true (full-parameter training needs the base at full precision: set load_in_4bit: false)", c.FullTraining},
	}
}

func oneOf(values []string) string { return "one of " + strings.Join(values, ", ") }

func validTargets(targets []string) bool {
	if len(targets) == 0 {
		return false
	}
	for _, t := range targets {
		if !slices.Contains(AllLinear, t) {
			return false
		}
	}
	return true
}

func validShape(name string) bool {
	_, err := data.ParseShape(name)
	return err == nil
}

func shapeNames() string {
	names := make([]string, len(data.Shapes))
	for i, s := range data.Shapes {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

func validTemplate(name string) bool {
	return name == "" || strings.HasSuffix(name, ".jinja") || slices.Contains(tokenizer.BuiltinChatTemplates(), name)
}

func validBlocksize(b int) bool { return b >= 32 && b <= 4096 && b&(b-1) == 0 }

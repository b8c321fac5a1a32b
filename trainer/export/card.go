package export

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/qlora-studio/qlora-studio/trainer/lora"
)

// CardName is the model card's file: the Hugging Face Hub shows README.md as the model's page.
const CardName = "README.md"

// card is what the model card of an export says: what it is, where it came from, how it was
// trained and how well it did. A model shared without this is a model nobody can judge.
type card struct {
	name      string // the export's folder name, the card's title
	format    Format
	base      string // the base model as the Hub knows it, or its folder name
	ckpt      *Checkpoint
	adapter   *lora.AdapterConfig
	dtype     string
	mergeInto MergeInto
	quant     *quantization // the 4-bit export's quantization
	template  string        // the chat template the run trained with, "" for the model's own
}

// write renders the card into dir/README.md.
func (c *card) write(dir string) error {
	var b strings.Builder
	c.frontMatter(&b)
	fmt.Fprintf(&b, "# %s\n\n%s\n\n", c.name, c.summary())
	c.hyperparameters(&b)
	c.results(&b)
	c.usage(&b)
	return os.WriteFile(filepath.Join(dir, CardName), []byte(b.String()), 0o644)
}

// frontMatter writes the YAML metadata the Hub reads. Strings are written as JSON strings, which
// are valid YAML double-quoted scalars whatever they hold.
func (c *card) frontMatter(b *strings.Builder) {
	q := func(s string) string { js, _ := json.Marshal(s); return string(js) }
	b.WriteString("---\n")
	fmt.Fprintf(b, "base_model: %s\n", q(c.base))
	tags := []string{"qlora-studio", "lora"}
	if r := c.ckpt.Run; r == nil || r.LoadIn4Bit {
		tags = append(tags, "qlora")
	}
	switch c.format {
	case PEFT:
		b.WriteString("library_name: peft\n")
		tags = append(tags, "peft")
	case Merged:
		b.WriteString("library_name: transformers\n")
		tags = append(tags, "merged")
	case BnB4:
		b.WriteString("library_name: transformers\n")
		tags = append(tags, "merged", "4-bit", "bitsandbytes", "nf4")
	}
	if c.ckpt.Run != nil && c.ckpt.Run.Dataset != "" {
		fmt.Fprintf(b, "datasets:\n- %s\n", q(filepath.Base(c.ckpt.Run.Dataset)))
	}
	b.WriteString("tags:\n")
	for _, t := range tags {
		fmt.Fprintf(b, "- %s\n", t)
	}
	b.WriteString("---\n\n")
}

func (c *card) summary() string {
	trained := fmt.Sprintf("`%s` fine-tuned with QLoRA Studio", c.base)
	if r := c.ckpt.Run; r != nil && r.Dataset != "" {
		trained += fmt.Sprintf(" on `%s`", filepath.Base(r.Dataset))
	}
	var s string
	switch c.format {
	case PEFT:
		s = "A LoRA adapter (PEFT format): " + trained + "."
	case Merged:
		s = fmt.Sprintf("%s, the LoRA adapter merged into the %s base weights; weights in %s.", trained, c.mergeInto, c.dtype)
	case BnB4:
		s = fmt.Sprintf("%s, the LoRA adapter merged into the %s base weights, then quantized to 4-bit NF4 "+
			"(bitsandbytes layout, blocksize %d, double quant %v, compute dtype %s).", trained, c.mergeInto, c.quant.blocksize, c.quant.double, c.dtype)
	}
	if c.ckpt.Step > 0 {
		s += fmt.Sprintf(" Exported from the checkpoint of step %d", c.ckpt.Step)
		if c.ckpt.Best {
			s += ", the run's best by evaluation loss"
		}
		s += "."
	}
	return s
}

// hyperparameters writes the table of what the run trained with (or, for a bare adapter, what
// its configuration says).
func (c *card) hyperparameters(b *strings.Builder) {
	b.WriteString("## Training\n\n| hyperparameter | value |\n|---|---|\n")
	row := func(k string, v any) { fmt.Fprintf(b, "| %s | %v |\n", k, v) }
	a := c.adapter
	row("lora_r", a.R)
	row("lora_alpha", fmtFloat(a.LoraAlpha))
	row("lora_dropout", fmtFloat(a.LoraDropout))
	row("lora_target_modules", targetList(a.TargetModules))
	row("use_rslora", a.UseRSLoRA)
	if r := c.ckpt.Run; r != nil {
		row("learning_rate", fmtFloat(r.LearningRate))
		row("lr_scheduler_type", r.LRSchedulerType)
		if r.MaxSteps > 0 {
			row("max_steps", r.MaxSteps)
		} else {
			row("num_train_epochs", fmtFloat(r.NumTrainEpochs))
		}
		row("micro_batch_size", r.MicroBatchSize)
		row("gradient_accumulation_steps", r.GradientAccumulationSteps)
		row("warmup", fmt.Sprintf("%d steps / ratio %s", r.WarmupSteps, fmtFloat(r.WarmupRatio)))
		row("optim", r.Optim)
		row("weight_decay", fmtFloat(r.WeightDecay))
		row("max_grad_norm", fmtFloat(r.MaxGradNorm))
		row("max_seq_length", r.MaxSeqLength)
		row("packing", r.Packing)
		row("seed", r.Seed)
		if r.LoadIn4Bit {
			row("base quantization", fmt.Sprintf("%s, blocksize %d, double quant %v", r.BnB4bitQuantType, r.BnB4bitBlocksize, r.BnB4bitUseDoubleQuant))
		} else {
			row("base quantization", "none (LoRA on the 16-bit base)")
		}
	}
	if c.template != "" {
		row("chat_template", c.template)
	}
	b.WriteString("\n")
}

// results writes the losses the run reached.
func (c *card) results(b *strings.Builder) {
	k := c.ckpt
	if k.FinalEvalLoss == nil && k.BestEvalLoss == nil && k.FinalTrainLoss == nil {
		return
	}
	b.WriteString("## Results\n\n| metric | value | step |\n|---|---|---|\n")
	row := func(name string, v *float64, step int) {
		if v != nil {
			fmt.Fprintf(b, "| %s | %.4f | %d |\n", name, *v, step)
		}
	}
	row("final eval loss", k.FinalEvalLoss, k.FinalEvalStep)
	row("best eval loss", k.BestEvalLoss, k.BestStep)
	row("final train loss", k.FinalTrainLoss, k.LastStep)
	b.WriteString("\n")
}

func (c *card) usage(b *strings.Builder) {
	b.WriteString("## Use\n\n```python\n")
	switch c.format {
	case PEFT:
		fmt.Fprintf(b, "from transformers import AutoModelForCausalLM\nfrom peft import PeftModel\n\n"+
			"base = AutoModelForCausalLM.from_pretrained(%q, torch_dtype=\"auto\")\n"+
			"model = PeftModel.from_pretrained(base, %q)\n", c.base, c.name)
	default:
		fmt.Fprintf(b, "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"+
			"model = AutoModelForCausalLM.from_pretrained(%q, torch_dtype=\"auto\")\n"+
			"tokenizer = AutoTokenizer.from_pretrained(%q)\n", c.name, c.name)
	}
	b.WriteString("```\n")
	if c.format == BnB4 {
		b.WriteString("\nLoading it needs the `bitsandbytes` package and a GPU it supports.\n")
	}
}

// targetList prints target_modules as a plain list: q_proj, v_proj.
func targetList(t lora.Strings) string {
	if t.List != nil {
		return strings.Join(t.List, ", ")
	}
	return t.String()
}

// fmtFloat prints 0.0002 rather than 2e-04, and 16 rather than 16.000000.
func fmtFloat(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// hubID matches a Hugging Face repository id: owner/name, no path beyond.
var hubID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$`)

// baseName is how the card names the base model: a Hub id when the base's config.json
// (_name_or_path) or the adapter configuration records one, else the base folder's name. A local
// path would mean nothing to anyone who downloads the export.
func baseName(baseDir string, adapter *lora.AdapterConfig) string {
	var cfg struct {
		NameOrPath string `json:"_name_or_path"`
	}
	if js, err := os.ReadFile(filepath.Join(baseDir, "config.json")); err == nil {
		json.Unmarshal(js, &cfg)
	}
	for _, id := range []string{cfg.NameOrPath, adapter.BaseModelNameOrPath} {
		if hubID.MatchString(id) && !exists(id) {
			return id
		}
	}
	if baseDir == "" {
		return "unknown"
	}
	return filepath.Base(filepath.Clean(baseDir))
}

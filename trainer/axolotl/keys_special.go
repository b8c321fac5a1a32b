package axolotl

import (
	"fmt"
	"math"
	"os"
	"slices"

	"github.com/qlora-studio/qlora-studio/trainer/run"
	"github.com/qlora-studio/qlora-studio/trainer/tokenizer"
)

// The mappings whose values differ on the two sides, each with the reason beside it.

// adapterMapping: load_in_4bit trains QLoRA on the NF4 base (axolotl: adapter qlora with
// load_in_4bit, as examples/llama-3/qlora.yml), false plain LoRA on the 16-bit base (adapter lora),
// and full_training every weight (no adapter: "leave blank to train all parameters").
var adapterMapping = mapping{
	ours:   []string{"load_in_4bit", "full_training"},
	theirs: []string{"adapter", "load_in_4bit", "load_in_8bit"},
	to: func(s source, out *Config, _ *Notes) error {
		switch {
		case s.FullTraining:
		case s.LoadIn4Bit:
			out.Set("adapter", "qlora", "")
		default:
			out.Set("adapter", "lora", "")
		}
		out.Set("load_in_4bit", s.LoadIn4Bit, "")
		return nil
	},
	from: func(in map[string]any, r *Read) {
		adapter, _ := asString(in["adapter"])
		four, _ := asBool(in["load_in_4bit"])
		switch adapter {
		case "qlora", "lora":
			r.Layer["load_in_4bit"], r.Layer["full_training"] = four, false
		case "":
			r.Layer["load_in_4bit"], r.Layer["full_training"] = false, true
		default:
			r.Notes.add(Axolotl, "adapter", adapter, "no such adapter here (LoRA and QLoRA only); left out")
		}
		if eight, _ := asBool(in["load_in_8bit"]); eight {
			r.Notes.add(Axolotl, "load_in_8bit", true, "an 8-bit base has no equivalent here: the base trains in 16 bits, or in NF4 with load_in_4bit")
		}
	},
}

// bnbMapping: the quantization type and double quantization go in bnb_config_kwargs, whose
// documented defaults are nf4 and true (docs/config.qmd).
var bnbMapping = mapping{
	ours:   []string{"bnb_4bit_quant_type", "bnb_4bit_use_double_quant"},
	theirs: []string{"bnb_config_kwargs"},
	to: func(s source, out *Config, _ *Notes) error {
		if s.LoadIn4Bit {
			out.Set("bnb_config_kwargs", map[string]any{"bnb_4bit_quant_type": s.BnB4bitQuantType,
				"bnb_4bit_use_double_quant": s.BnB4bitUseDoubleQuant}, "")
		}
		return nil
	},
	from: func(in map[string]any, r *Read) {
		kw, _ := in["bnb_config_kwargs"].(map[string]any)
		for k, v := range kw {
			switch k {
			case "bnb_4bit_quant_type", "bnb_4bit_use_double_quant":
				r.Layer[k] = v
			default:
				r.Notes.add(Axolotl, "bnb_config_kwargs."+k, v, "not a setting here; left out")
			}
		}
	},
}

// alphaMapping: axolotl types lora_alpha as an integer (docs/config-reference.qmd); a fraction here
// is written as it is, and named, since axolotl may refuse or round it.
var alphaMapping = func() mapping {
	m := same("lora_alpha", "lora_alpha", number)
	write := m.to
	m.to = func(s source, out *Config, n *Notes) error {
		if s.LoRAAlpha != math.Trunc(s.LoRAAlpha) {
			n.add(Ours, "lora_alpha", s.LoRAAlpha, "written as it is, though axolotl types lora_alpha as an integer")
		}
		return write(s, out, n)
	}
	return m
}()

// targetsMapping: all seven projections are lora_target_linear (every linear layer but the
// output head); fewer are listed in lora_target_modules.
var targetsMapping = mapping{
	ours:   []string{"lora_target_modules"},
	theirs: []string{"lora_target_modules", "lora_target_linear"},
	to: func(s source, out *Config, _ *Notes) error {
		if len(s.LoRATargetModules) == len(run.AllLinear) {
			out.Set("lora_target_linear", true, "ours: lora_target_modules all-linear")
		} else {
			out.Set("lora_target_modules", s.LoRATargetModules, "")
		}
		return nil
	},
	from: func(in map[string]any, r *Read) {
		if all, _ := asBool(in["lora_target_linear"]); all {
			r.Layer["lora_target_modules"] = run.AllLinear
			return
		}
		readInto(in, r, "lora_target_modules", "lora_target_modules", func(v any) (any, bool) {
			if s, ok := asString(v); ok {
				return s, true
			}
			return asStrings(v)
		})
	},
}

// shuffleMapping: shuffle false reads the rows in file order, axolotl's curriculum_sampling
// ("sequential sampling").
var shuffleMapping = mapping{
	ours:   []string{"shuffle"},
	theirs: []string{"curriculum_sampling"},
	to: func(s source, out *Config, _ *Notes) error {
		out.Set("curriculum_sampling", !s.Shuffle, "ours: shuffle "+fmt.Sprint(s.Shuffle))
		return nil
	},
	from: func(in map[string]any, r *Read) {
		sequential, _ := asBool(in["curriculum_sampling"])
		r.Layer["shuffle"] = !sequential
	},
}

// valSetMapping: val_set_size is a fraction in axolotl ("1 = 100%"); a number of rows here
// becomes the fraction of the rows written.
var valSetMapping = mapping{
	ours:   []string{"val_set_size"},
	theirs: []string{"val_set_size"},
	to: func(s source, out *Config, n *Notes) error {
		v := s.ValSetSize
		if v >= 1 {
			if s.opt.Rows <= 0 {
				return fmt.Errorf("val_set_size %v counts rows; the handoff needs the number of rows to turn it into axolotl's fraction", v)
			}
			frac := v / float64(s.opt.Rows)
			n.add(Ours, "val_set_size", v, "rows, written as the fraction %.6g of the %d rows (axolotl's val_set_size is a fraction)", frac, s.opt.Rows)
			v = frac
		}
		out.Set("val_set_size", v, "")
		return nil
	},
	from: func(in map[string]any, r *Read) { readInto(in, r, "val_set_size", "val_set_size", number) },
}

// chatTemplateMapping: the model's own template is axolotl's tokenizer_default; a built-in or a
// .jinja file goes across as its Jinja source (chat_template: jinja), so that both render the
// same text.
var chatTemplateMapping = mapping{
	ours:   []string{"chat_template"},
	theirs: []string{"chat_template", "chat_template_jinja"},
	to: func(s source, out *Config, _ *Notes) error {
		if s.ChatTemplate == "" {
			out.Set("chat_template", "tokenizer_default", "ours: the model's own")
			return nil
		}
		src, err := templateSource(s.ChatTemplate)
		if err != nil {
			return err
		}
		out.Set("chat_template", "jinja", "ours: "+s.ChatTemplate)
		out.Set("chat_template_jinja", src, "")
		return nil
	},
	from: func(in map[string]any, r *Read) {
		name, _ := asString(in["chat_template"])
		jinja, _ := asString(in["chat_template_jinja"])
		switch {
		case jinja != "" && (name == "" || name == "jinja"):
			r.readTemplate(jinja)
		case name == "" || name == "tokenizer_default":
			r.Layer["chat_template"] = ""
		case slices.Contains(tokenizer.BuiltinChatTemplates(), name):
			r.Layer["chat_template"] = name
			r.Notes.add(Axolotl, "chat_template", name, "read as our built-in %s; axolotl's template of that name may differ in detail", name)
		default:
			r.Notes.add(Axolotl, "chat_template", name, "no built-in of that name here; the model's own template is used")
		}
	},
}

// readTemplate takes Jinja source: the name of the built-in it is, or, for any other template,
// the source kept for the caller to store as a file and name in chat_template.
func (r *Read) readTemplate(src string) {
	for _, name := range tokenizer.BuiltinChatTemplates() {
		if b, _ := tokenizer.BuiltinChatTemplateSource(name); b == src {
			r.Layer["chat_template"] = name
			return
		}
	}
	r.ChatTemplateJinja = src
}

func templateSource(choice string) (string, error) {
	if slices.Contains(tokenizer.BuiltinChatTemplates(), choice) {
		return tokenizer.BuiltinChatTemplateSource(choice)
	}
	b, err := os.ReadFile(choice)
	if err != nil {
		return "", fmt.Errorf("chat_template: %w", err)
	}
	return string(b), nil
}

// schedulerMapping: our constant schedule warms up first, which transformers calls
// constant_with_warmup (its "constant" ignores warmup).
var schedulerMapping = mapping{
	ours:   []string{"lr_scheduler_type"},
	theirs: []string{"lr_scheduler"},
	to: func(s source, out *Config, _ *Notes) error {
		v := s.LRSchedulerType
		if v == "constant" && (s.WarmupSteps > 0 || s.WarmupRatio > 0) {
			v = "constant_with_warmup"
		}
		out.Set("lr_scheduler", v, comment("lr_scheduler_type", "lr_scheduler"))
		return nil
	},
	from: func(in map[string]any, r *Read) {
		switch v, _ := asString(in["lr_scheduler"]); v {
		case "linear", "cosine", "constant":
			r.Layer["lr_scheduler_type"] = v
		case "constant_with_warmup":
			r.Layer["lr_scheduler_type"] = "constant"
		default:
			r.Notes.add(Axolotl, "lr_scheduler", in["lr_scheduler"], "no such schedule here (constant, linear, cosine); left out")
		}
	},
}

// warmupMapping: axolotl takes warmup_steps or warmup_ratio, not both; here warmup_steps wins
// when both are set, so only it goes across.
var warmupMapping = mapping{
	ours:   []string{"warmup_steps", "warmup_ratio"},
	theirs: []string{"warmup_steps", "warmup_ratio"},
	to: func(s source, out *Config, n *Notes) error {
		switch {
		case s.WarmupSteps > 0:
			out.Set("warmup_steps", s.WarmupSteps, "")
			if s.WarmupRatio > 0 {
				n.add(Ours, "warmup_ratio", s.WarmupRatio, "not written: warmup_steps wins over it here too, and axolotl takes only one")
			}
		case s.WarmupRatio > 0:
			out.Set("warmup_ratio", s.WarmupRatio, "")
		}
		return nil
	},
	from: func(in map[string]any, r *Read) {
		readInto(in, r, "warmup_steps", "warmup_steps", whole)
		readInto(in, r, "warmup_ratio", "warmup_ratio", number)
	},
}

// optimizerMapping: our two optimizers under transformers' names (docs/config.qmd lists them);
// reading back, the paged and fused variants are the same updates.
var optimizerMapping = mapping{
	ours:   []string{"optim"},
	theirs: []string{"optimizer"},
	to: func(s source, out *Config, _ *Notes) error {
		name := map[string]string{"adamw_32bit": "adamw_torch", "adamw_8bit": "adamw_bnb_8bit"}[s.Optim]
		out.Set("optimizer", name, "ours: optim "+s.Optim)
		return nil
	},
	from: func(in map[string]any, r *Read) {
		v, _ := asString(in["optimizer"])
		switch v {
		case "adamw_torch", "adamw_torch_fused", "adamw_hf", "paged_adamw_32bit":
			r.Layer["optim"] = "adamw_32bit"
		case "adamw_bnb_8bit", "adamw_8bit", "paged_adamw_8bit":
			r.Layer["optim"] = "adamw_8bit"
		default:
			r.Notes.add(Axolotl, "optimizer", in["optimizer"], "no such optimizer here (AdamW in 32 or 8 bits); left out")
		}
	},
}

// checkpointingMapping: axolotl's gradient_checkpointing may also be "offload" or "offload_disk",
// which still recompute activations (and move them off the GPU besides).
var checkpointingMapping = mapping{
	ours:   []string{"gradient_checkpointing"},
	theirs: []string{"gradient_checkpointing"},
	to: func(s source, out *Config, _ *Notes) error {
		out.Set("gradient_checkpointing", s.GradientCheckpointing, "")
		return nil
	},
	from: func(in map[string]any, r *Read) {
		switch v := in["gradient_checkpointing"]; v {
		case true, false:
			r.Layer["gradient_checkpointing"] = v
		case "offload", "offload_disk":
			r.Layer["gradient_checkpointing"] = true
			r.Notes.add(Axolotl, "gradient_checkpointing", v, "read as true: activations are recomputed here, never offloaded")
		default:
			r.Notes.add(Axolotl, "gradient_checkpointing", v, "not a value here; left out")
		}
	},
}

// saveStepsMapping: save_steps 0 keeps only the checkpoint at the end. Axolotl's save_strategy
// "no" would keep none but the final adapter, and with it no trainer_state.json, the curves an
// import reads. So a run of max_steps saves at that step (save_steps: max_steps), and a run of
// epochs once per epoch (saves_per_epoch: 1), the last of them at the end.
var saveStepsMapping = mapping{
	ours:   []string{"save_steps"},
	theirs: []string{"save_steps", "save_strategy", "saves_per_epoch"},
	to: func(s source, out *Config, n *Notes) error {
		switch {
		case s.SaveSteps > 0:
			out.Set("save_steps", s.SaveSteps, "")
		case s.MaxSteps > 0:
			out.Set("save_steps", s.MaxSteps, "ours: save_steps 0, a checkpoint at the end")
		default:
			out.Set("saves_per_epoch", 1, "ours: save_steps 0")
			n.add(Ours, "save_steps", 0, "written as saves_per_epoch: 1: axolotl saves at each epoch's end (here only at the end), so that the last checkpoint's trainer_state.json comes back with the curves")
		}
		return nil
	},
	from: func(in map[string]any, r *Read) {
		strategy, hasStrategy := in["save_strategy"]
		perEpoch, hasPerEpoch := in["saves_per_epoch"]
		steps, hasSteps := asInt(in["save_steps"])
		maxSteps, _ := asInt(in["max_steps"])
		switch {
		case strategy == "no", hasSteps && steps == maxSteps:
			r.Layer["save_steps"] = 0 // none before the end
		case in["save_steps"] != nil:
			readInto(in, r, "save_steps", "save_steps", whole)
		case hasPerEpoch:
			r.Layer["save_steps"] = 0
			r.Notes.add(Axolotl, "saves_per_epoch", perEpoch, "checkpoints at each epoch's end have no setting here; read as save_steps 0 (a checkpoint at the end)")
		case hasStrategy:
			r.Notes.add(Axolotl, "save_strategy", strategy, "no such setting here; save_steps stays at its default")
		default:
			r.Layer["save_steps"] = 0
			r.Notes.add(Axolotl, "save_steps", nil, "absent: axolotl then saves at each epoch's end, which has no setting here; read as save_steps 0 (a checkpoint at the end)")
		}
	},
}

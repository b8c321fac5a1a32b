package ui

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/qlora-studio/qlora-studio/trainer/run"
)

// knob is one field of the new-run form, bound to a key of the run configuration. Its note shows
// the key and its allowed range (run.Allowed), or the problem with the value shown.
type knob struct {
	key, label string
	input      fyne.CanvasObject
	entry      *widget.Entry // the input, for the keys typed in
	note       *widget.Label

	text func() string             // the value shown, as text
	fill func(c run.Config)        // show c's value
	read func(c *run.Config) error // write the value shown into c; an error when it cannot be read
	set  func(text string)         // change the value as a person would (tests, "make it fit")
}

func newKnob(key, label string) *knob {
	k := &knob{key: key, label: label, note: widget.NewLabel("")}
	k.note.Truncation = fyne.TextTruncateEllipsis
	k.note.SizeName = theme.SizeNameCaptionText
	return k
}

// show puts the problem with the value at the field, or the key and its range when there is none.
func (k *knob) show(problem string) {
	if k.entry != nil {
		k.entry.SetValidationError(errorOrNil(problem))
	}
	if problem != "" {
		k.note.Importance = widget.DangerImportance
		k.note.SetText(problem)
		return
	}
	k.note.Importance = widget.MediumImportance
	k.note.SetText(strings.TrimSuffix(k.key+" · "+run.Allowed(k.key), " · "))
}

func errorOrNil(text string) error {
	if text == "" {
		return nil
	}
	return errors.New(text)
}

// entryKnob is a key typed in as text, parsed by parse into the field ptr picks.
func entryKnob[T any](key, label string, ptr func(*run.Config) *T, format func(T) string, parse func(string) (T, error), want string) *knob {
	k := newKnob(key, label)
	k.entry = widget.NewEntry()
	k.entry.AlwaysShowValidationError = true
	k.input = k.entry
	k.text = func() string { return k.entry.Text }
	k.fill = func(c run.Config) { k.entry.SetText(format(*ptr(&c))) }
	k.read = func(c *run.Config) error {
		v, err := parse(strings.TrimSpace(k.entry.Text))
		if err != nil {
			return fmt.Errorf("%s: %q is not %s: want %s", key, k.entry.Text, want, run.Allowed(key))
		}
		*ptr(c) = v
		return nil
	}
	k.set = k.entry.SetText
	return k
}

func intKnob(key, label string, ptr func(*run.Config) *int) *knob {
	return entryKnob(key, label, ptr, strconv.Itoa, strconv.Atoi, "a whole number")
}

func floatKnob(key, label string, ptr func(*run.Config) *float64) *knob {
	format := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	parse := func(s string) (float64, error) { return strconv.ParseFloat(s, 64) }
	return entryKnob(key, label, ptr, format, parse, "a number")
}

// checkKnob is a key that is true or false.
func checkKnob(key, label string, ptr func(*run.Config) *bool) *knob {
	k := newKnob(key, label)
	check := widget.NewCheck("", nil)
	k.input = check
	k.text = func() string { return strconv.FormatBool(check.Checked) }
	k.fill = func(c run.Config) { check.SetChecked(*ptr(&c)) }
	k.read = func(c *run.Config) error { *ptr(c) = check.Checked; return nil }
	k.set = func(text string) { check.SetChecked(text == "true") }
	return k
}

// selectKnob is a key with a few names to choose from.
func selectKnob(key, label string, options []string, ptr func(*run.Config) *string) *knob {
	k := newKnob(key, label)
	sel := widget.NewSelect(options, nil)
	k.input = sel
	k.text = func() string { return sel.Selected }
	k.fill = func(c run.Config) { sel.SetSelected(*ptr(&c)) }
	k.read = func(c *run.Config) error { *ptr(c) = sel.Selected; return nil }
	k.set = sel.SetSelected
	return k
}

// targetsKnob is lora_target_modules: a box for each projection.
func targetsKnob() *knob {
	k := newKnob("lora_target_modules", "Target modules")
	checks := make([]*widget.Check, len(run.AllLinear))
	row := container.NewGridWithColumns(4)
	for i, name := range run.AllLinear {
		checks[i] = widget.NewCheck(name, nil)
		row.Add(checks[i])
	}
	k.input = row
	show := func(names []string) {
		for i, c := range checks {
			c.SetChecked(slices.Contains(names, run.AllLinear[i]))
		}
	}
	ticked := func() []string {
		var names []string
		for i, c := range checks {
			if c.Checked {
				names = append(names, run.AllLinear[i])
			}
		}
		return names
	}
	k.text = func() string { return strings.Join(ticked(), ",") }
	k.fill = func(c run.Config) { show(c.LoRATargetModules) }
	k.read = func(c *run.Config) error { c.LoRATargetModules = ticked(); return nil }
	k.set = func(text string) { show(strings.Split(text, ",")) }
	return k
}

// onChange calls fn whenever the knob's input changes.
func (k *knob) onChange(fn func()) {
	switch in := k.input.(type) {
	case *widget.Entry:
		in.OnChanged = func(string) { fn() }
	case *widget.Check:
		in.OnChanged = func(bool) { fn() }
	case *widget.Select:
		in.OnChanged = func(string) { fn() }
	case *fyne.Container:
		for _, o := range in.Objects {
			o.(*widget.Check).OnChanged = func(bool) { fn() }
		}
	}
}

// knobGroup is a titled group of the form.
type knobGroup struct {
	title string
	knobs []*knob
}

// knobGroups are every knob of the form, grouped as people think of them.
func knobGroups() []knobGroup {
	return []knobGroup{
		{"Quantization", []*knob{
			checkKnob("load_in_4bit", "NF4 base (4-bit)", func(c *run.Config) *bool { return &c.LoadIn4Bit }),
			checkKnob("bnb_4bit_use_double_quant", "Double quantization", func(c *run.Config) *bool { return &c.BnB4bitUseDoubleQuant }),
			intKnob("bnb_4bit_blocksize", "Block size", func(c *run.Config) *int { return &c.BnB4bitBlocksize }),
		}},
		{"LoRA", []*knob{
			intKnob("lora_r", "Rank r", func(c *run.Config) *int { return &c.LoRAR }),
			floatKnob("lora_alpha", "Alpha", func(c *run.Config) *float64 { return &c.LoRAAlpha }),
			floatKnob("lora_dropout", "Dropout", func(c *run.Config) *float64 { return &c.LoRADropout }),
			targetsKnob(),
			checkKnob("use_rslora", "rsLoRA scaling", func(c *run.Config) *bool { return &c.UseRSLoRA }),
		}},
		{"Optimisation", []*knob{
			floatKnob("learning_rate", "Learning rate", func(c *run.Config) *float64 { return &c.LearningRate }),
			selectKnob("lr_scheduler_type", "Schedule", run.Schedules, func(c *run.Config) *string { return &c.LRSchedulerType }),
			intKnob("warmup_steps", "Warmup steps", func(c *run.Config) *int { return &c.WarmupSteps }),
			floatKnob("warmup_ratio", "Warmup ratio", func(c *run.Config) *float64 { return &c.WarmupRatio }),
			floatKnob("num_train_epochs", "Epochs", func(c *run.Config) *float64 { return &c.NumTrainEpochs }),
			intKnob("max_steps", "Steps", func(c *run.Config) *int { return &c.MaxSteps }),
			intKnob("micro_batch_size", "Micro-batch", func(c *run.Config) *int { return &c.MicroBatchSize }),
			intKnob("gradient_accumulation_steps", "Gradient accumulation", func(c *run.Config) *int { return &c.GradientAccumulationSteps }),
			floatKnob("max_grad_norm", "Max grad norm", func(c *run.Config) *float64 { return &c.MaxGradNorm }),
			floatKnob("weight_decay", "Weight decay", func(c *run.Config) *float64 { return &c.WeightDecay }),
			selectKnob("optim", "AdamW", run.Optimizers, func(c *run.Config) *string { return &c.Optim }),
			checkKnob("gradient_checkpointing", "Gradient checkpointing", func(c *run.Config) *bool { return &c.GradientCheckpointing }),
		}},
		{"Data", []*knob{
			intKnob("max_seq_length", "Max length", func(c *run.Config) *int { return &c.MaxSeqLength }),
			checkKnob("packing", "Packing", func(c *run.Config) *bool { return &c.Packing }),
			checkKnob("train_on_inputs", "Train on inputs", func(c *run.Config) *bool { return &c.TrainOnInputs }),
			floatKnob("val_set_size", "Validation split", func(c *run.Config) *float64 { return &c.ValSetSize }),
		}},
		{"Checkpoints", []*knob{
			intKnob("save_steps", "Save every", func(c *run.Config) *int { return &c.SaveSteps }),
			intKnob("eval_steps", "Evaluate every", func(c *run.Config) *int { return &c.EvalSteps }),
			intKnob("save_total_limit", "Keep at most", func(c *run.Config) *int { return &c.SaveTotalLimit }),
			intKnob("early_stopping_patience", "Early stopping patience", func(c *run.Config) *int { return &c.EarlyStoppingPatience }),
		}},
	}
}

// groupCard lays a group out as a card of rows: the label, then the input over its note.
func groupCard(g knobGroup) fyne.CanvasObject {
	grid := container.New(layout.NewFormLayout())
	for _, k := range g.knobs {
		grid.Add(widget.NewLabelWithStyle(k.label, fyne.TextAlignTrailing, fyne.TextStyle{Bold: true}))
		grid.Add(container.NewVBox(k.input, k.note))
	}
	return widget.NewCard(g.title, "", grid)
}

package export

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/qlora-studio/qlora-studio/internal/safefile"
	"github.com/qlora-studio/qlora-studio/trainer/gguf"
	"github.com/qlora-studio/qlora-studio/trainer/lora"
	"github.com/qlora-studio/qlora-studio/trainer/nf4"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
	"github.com/qlora-studio/qlora-studio/trainer/tokenizer"
)

// Format is what an export writes.
type Format string

// The export formats.
const (
	PEFT   Format = "peft"   // adapter_config.json and adapter_model.safetensors, for PEFT
	Merged Format = "merged" // a Hugging Face model with the adapter merged in, 16 or 32-bit
	BnB4   Format = "bnb4"   // the merged model quantized to NF4 in the bitsandbytes layout
	GGUF   Format = "gguf"   // the merged model as one llama.cpp / Ollama file
)

// MergeInto is the base weight W of W' = W + scaling·B·A.
type MergeInto string

// The bases a merge can use.
const (
	// MergeAuto is MergeOriginal when the base has 16-bit weights, MergeNF4 for a pre-quantized one.
	MergeAuto MergeInto = ""
	// MergeOriginal merges into the base's own 16-bit weights: the model the adapter would give on a
	// 16-bit base (`qlora eval --base-precision full` with the adapter).
	MergeOriginal MergeInto = "original"
	// MergeNF4 merges into the base as QLoRA trained against it, quantized to NF4 and dequantized:
	// the model the adapter gave during training (`qlora eval` with the adapter).
	MergeNF4 MergeInto = "nf4"
)

// Options choose an export.
type Options struct {
	Format Format

	// DType is the weights' dtype: F32, F16 or BF16. For a merged model "" keeps the base's
	// (its torch_dtype, or its compute dtype when pre-quantized); for bnb4 it is the compute dtype
	// and that of the tensors left unquantized; for an adapter "" is F32, as the run saved it.
	DType safetensors.DType

	MergeInto MergeInto // merged, bnb4 and gguf

	// GGUF is the type of a GGUF file's weight matrices: F16, BF16, Q8_0 or F32.
	GGUF gguf.GGMLType

	// Base is the base model folder; "" takes the run's base_model, or a bare adapter's
	// base_model_name_or_path when that is a folder.
	Base string

	// MaxShardBytes caps a safetensors shard; 0 is DefaultShardBytes (DefaultBnBShardBytes for bnb4).
	MaxShardBytes int64

	// Progress, when set, hears after each tensor how many of all are done.
	Progress func(done, total int)
}

// Result describes a finished export, for the caller to show and to record in the library (this
// package knows nothing of the library).
type Result struct {
	Format     Format            `json:"format"`
	Path       string            `json:"path"`                 // the folder written, absolute
	Bytes      int64             `json:"bytes"`                // the size of every file in it
	Checkpoint string            `json:"checkpoint"`           // the adapter folder exported
	Step       int               `json:"step"`                 // its step; 0 for a bare adapter folder
	Best       bool              `json:"best"`                 // it is the run's best checkpoint
	DType      safetensors.DType `json:"dtype"`                // of the weights (the compute dtype for bnb4)
	MergeInto  MergeInto         `json:"merge_into,omitempty"` // what the adapter was merged into; "" for peft
	Base       string            `json:"base,omitempty"`       // the base model folder; "" for peft
	GGUF       gguf.GGMLType     `json:"gguf_type,omitempty"`  // the GGUF's matrix type (gguf)
	Warnings   []string          `json:"warnings,omitempty"`   // what llama.cpp will do differently (gguf)
}

// ProgressLine is a line of `qlora export --progress`: the tensors done and in all, one JSON
// object per line on stdout before the result, for a caller that runs the export as a child (the
// desktop app) to show.
type ProgressLine struct {
	Type  string `json:"type"` // ProgressType
	Done  int    `json:"done"`
	Total int    `json:"total"`
}

// ProgressType is the type of every ProgressLine; the result that follows has none.
const ProgressType = "progress"

// Export writes the adapter that from names (a run folder, a checkpoint folder or a PEFT adapter
// folder; see FindCheckpoint) into the new folder out in the chosen format. The output is built
// in a temporary folder beside out and renamed when complete; when anything fails, the disk is too
// small (checked first) or ctx is cancelled, nothing is left behind. A merge streams tensor by
// tensor from the memory-mapped base: its memory is that of the largest tensor, not of the model.
func Export(ctx context.Context, from, out string, opt Options) (Result, error) {
	ckpt, err := FindCheckpoint(from)
	if err != nil {
		return Result{}, err
	}
	switch opt.Format {
	case PEFT:
		return exportPEFT(ctx, ckpt, out, opt)
	case Merged, BnB4:
		return exportModel(ctx, ckpt, out, opt)
	case GGUF:
		return exportGGUF(ctx, ckpt, out, opt)
	}
	return Result{}, fmt.Errorf("export format %q: want %s, %s, %s or %s", opt.Format, PEFT, Merged, BnB4, GGUF)
}

// exportPEFT writes the checkpoint's adapter as PEFT saves one, with a model card.
func exportPEFT(ctx context.Context, ckpt *Checkpoint, out string, opt Options) (Result, error) {
	ad, err := lora.Load(ckpt.Dir)
	if err != nil {
		return Result{}, err
	}
	dtype := opt.DType
	if dtype == "" {
		dtype = safetensors.F32
	}
	if !isFloat(dtype) {
		return Result{}, fmt.Errorf("adapter dtype %q: want F32, F16 or BF16", dtype)
	}
	baseDir := opt.Base
	if baseDir == "" && ckpt.Run != nil {
		baseDir = ckpt.Run.BaseModel
	}
	c := &card{name: filepath.Base(filepath.Clean(out)), format: PEFT, base: baseName(baseDir, ad.Config),
		ckpt: ckpt, adapter: ad.Config, template: templateName(ckpt)}
	var params int64
	for _, m := range ad.Modules {
		params += int64(m.R * (m.In + m.Out))
	}
	tensors := 2 * len(ad.Modules)
	size, err := stage(ctx, out, params*int64(dtype.Size())+64<<10, func(tmp string) error {
		if err := lora.Save(tmp, ad, dtype); err != nil {
			return err
		}
		if opt.Progress != nil {
			opt.Progress(tensors, tensors)
		}
		return c.write(tmp)
	})
	if err != nil {
		return Result{}, err
	}
	return Result{Format: PEFT, Path: absolute(out), Bytes: size, Checkpoint: ckpt.Dir, Step: ckpt.Step,
		Best: ckpt.Best, DType: dtype}, nil
}

// modelExport is a merged (or merged and quantized) model export being prepared.
type modelExport struct {
	ckpt    *Checkpoint
	opt     Options
	base    *base
	adapter *adapterFile
	plan    *weightsPlan
	into    MergeInto
	dtype   safetensors.DType
}

// exportModel merges the checkpoint's adapter into its base and writes a complete Hugging Face
// model folder: weights, config.json, generation_config.json, the tokenizer and a model card.
func exportModel(ctx context.Context, ckpt *Checkpoint, out string, opt Options) (Result, error) {
	e, err := prepareModel(ckpt, opt)
	if err != nil {
		return Result{}, err
	}
	defer e.close()
	template, err := e.chatTemplate()
	if err != nil {
		return Result{}, err
	}
	entries := e.plan.entries()
	maxShard := opt.MaxShardBytes
	if maxShard <= 0 {
		maxShard = map[Format]int64{Merged: DefaultShardBytes, BnB4: DefaultBnBShardBytes}[opt.Format]
	}
	need := estimate(entries) + filesBytes(e.base.dir, append(tokenizerFiles, GenerationConfigName))
	size, err := stage(ctx, out, need, func(tmp string) error {
		if err := writeWeights(ctx, tmp, entries, maxShard, opt.Progress); err != nil {
			return err
		}
		return e.writeFiles(ctx, tmp, template, filepath.Base(filepath.Clean(out)))
	})
	if err != nil {
		return Result{}, err
	}
	return Result{Format: opt.Format, Path: absolute(out), Bytes: size, Checkpoint: ckpt.Dir, Step: ckpt.Step,
		Best: ckpt.Best, DType: e.dtype, MergeInto: e.into, Base: e.base.dir}, nil
}

// prepareModel opens the base and the adapter, checks them against each other and plans the
// weights.
func prepareModel(ckpt *Checkpoint, opt Options) (*modelExport, error) {
	adapterCfg, err := lora.ReadConfig(filepath.Join(ckpt.Dir, lora.ConfigName))
	if err != nil {
		return nil, err
	}
	baseDir, err := ckpt.baseModel(opt.Base, adapterCfg)
	if err != nil {
		return nil, err
	}
	e := &modelExport{ckpt: ckpt, opt: opt}
	if e.base, err = openBase(baseDir); err != nil {
		return nil, err
	}
	if err := e.choose(); err != nil {
		e.close()
		return nil, err
	}
	if e.adapter, err = openAdapter(ckpt.Dir, e.base); err != nil {
		e.close()
		return nil, err
	}
	e.plan = &weightsPlan{base: e.base, adapter: e.adapter, dtype: e.dtype, mergeNF4: e.into == MergeNF4,
		baseQuant: ckpt.runQuantization()}
	if opt.Format == BnB4 {
		q := ckpt.runQuantization()
		e.plan.quantize = &q
	}
	return e, nil
}

// choose settles what to merge into and the output dtype.
func (e *modelExport) choose() error {
	e.into = e.opt.MergeInto
	switch {
	case e.into == MergeAuto && e.base.quantized:
		e.into = MergeNF4
	case e.into == MergeAuto:
		e.into = MergeOriginal
	case e.into == MergeOriginal && e.base.quantized:
		return fmt.Errorf("%s: the base is pre-quantized (bitsandbytes 4-bit), so its original 16-bit weights are not at hand: merge into nf4, or name the 16-bit base with --base", e.base.dir)
	case e.into != MergeOriginal && e.into != MergeNF4:
		return fmt.Errorf("merge into %q: want %s or %s", e.into, MergeOriginal, MergeNF4)
	}
	e.dtype = e.opt.DType
	if e.dtype == "" {
		var err error
		if e.dtype, err = ParseDType(e.base.dtype()); err != nil {
			return fmt.Errorf("%s: %w", e.base.dir, err)
		}
	}
	if !isFloat(e.dtype) {
		return fmt.Errorf("dtype %q: want F32, F16 or BF16", e.dtype)
	}
	return nil
}

func (e *modelExport) close() {
	if e.adapter != nil {
		e.adapter.Close()
	}
	e.base.Close()
}

// writeFiles writes everything beside the weights.
func (e *modelExport) writeFiles(ctx context.Context, dir, template, name string) error {
	dtypeName := torchNames[e.dtype]
	err := writeConfig(dir, e.base.dir, func(cfg map[string]json.RawMessage) {
		delete(cfg, "quantization_config")
		if e.opt.Format == BnB4 {
			cfg["quantization_config"] = rawJSON(nf4.NewQuantizationConfig(dtypeName, e.plan.quantize.double))
		}
		cfg["torch_dtype"] = rawJSON(dtypeName)
		if _, v5 := cfg["dtype"]; v5 { // transformers 5 writes dtype; both must agree
			cfg["dtype"] = rawJSON(dtypeName)
		}
	})
	if err != nil {
		return err
	}
	if err := writeGenerationConfig(dir, e.base.dir); err != nil {
		return err
	}
	if err := copyFiles(ctx, dir, e.base.dir, tokenizerFiles); err != nil {
		return err
	}
	if template != "" {
		if err := os.WriteFile(filepath.Join(dir, "chat_template.jinja"), []byte(template), 0o644); err != nil {
			return err
		}
	}
	c := &card{name: name, format: e.opt.Format, base: baseName(e.base.dir, e.adapter.cfg), ckpt: e.ckpt,
		adapter: e.adapter.cfg, dtype: dtypeName, mergeInto: e.into, quant: e.plan.quantize, template: templateName(e.ckpt)}
	return c.write(dir)
}

// writeGenerationConfig copies the base's generation_config.json, or, when it has none, writes the
// one transformers derives from config.json, so generate() stops at the model's EOS either way.
func writeGenerationConfig(dir, src string) error {
	err := safefile.Copy(filepath.Join(dir, GenerationConfigName), filepath.Join(src, GenerationConfigName))
	if !os.IsNotExist(err) {
		return err
	}
	js, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		return err
	}
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(js, &cfg); err != nil {
		return err
	}
	gen := map[string]json.RawMessage{"_from_model_config": json.RawMessage("true")}
	for _, k := range []string{"bos_token_id", "eos_token_id", "pad_token_id"} {
		if v, ok := cfg[k]; ok && string(v) != "null" {
			gen[k] = v
		}
	}
	out, err := json.MarshalIndent(gen, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, GenerationConfigName), append(out, '\n'), 0o644)
}

// absolute is path made absolute, as the library records it; path itself if that fails.
func absolute(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return filepath.Clean(path)
}

// templateName is the chat template the run chose, "" when it used the model's own.
func templateName(ckpt *Checkpoint) string {
	if ckpt.Run == nil {
		return ""
	}
	return ckpt.Run.ChatTemplate
}

// chatTemplate is the source of the chat template the run trained with when it is not the base's
// own (a built-in or a .jinja file): the merged model gets it as chat_template.jinja, which
// transformers prefers to tokenizer_config.json's, so it is prompted as it was trained.
func (e *modelExport) chatTemplate() (string, error) {
	name := templateName(e.ckpt)
	switch {
	case name == "":
		return "", nil
	case strings.HasSuffix(name, ".jinja") || strings.ContainsRune(name, os.PathSeparator):
		src, err := os.ReadFile(name)
		if err != nil {
			return "", fmt.Errorf("the run's chat template: %w", err)
		}
		return string(src), nil
	}
	tok, err := tokenizer.Load(e.base.dir)
	if err != nil {
		return "", err
	}
	t, err := tok.BuiltinChatTemplate(name)
	if err != nil {
		return "", err
	}
	return t.Source, nil
}

package export

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/nf4"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// BnB4bitOptions are the knobs of a bitsandbytes 4-bit checkpoint.
type BnB4bitOptions struct {
	Blocksize     int   // NF4 block size; bitsandbytes' default is 64
	DoubleQuant   bool  // quantize the block absmax again, as QLoRA does
	MaxShardBytes int64 // split the weights into shards of at most this size, with an index

	// Progress, when set, is called after each tensor is written with the tensors done and in all.
	Progress func(done, total int)
}

// DefaultShardBytes is transformers' default max_shard_size.
const DefaultShardBytes = 5 << 30

// tokenizerFiles are copied beside the weights so the output loads as a complete model.
var tokenizerFiles = []string{
	"tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json",
	"added_tokens.json", "vocab.json", "merges.txt", "generation_config.json", "chat_template.jinja",
}

// WriteBnB4bit writes the model in src as a pre-quantized bitsandbytes checkpoint in out: the seven
// projections of every layer in NF4, everything else as it was, config.json with its
// quantization_config, and the tokenizer files. It builds the result in a temporary folder beside out
// and renames it into place, so out appears only when complete; out must not exist yet.
func WriteBnB4bit(src, out string, opt BnB4bitOptions) error {
	if _, err := os.Stat(out); err == nil {
		return fmt.Errorf("%s: already exists; choose a new folder", out)
	}
	cfg, err := model.LoadConfig(src)
	if err != nil {
		return err
	}
	if cfg.Quantization != nil {
		return fmt.Errorf("%s: already quantized (%s %s)", src, cfg.Quantization.Method, cfg.Quantization.QuantType)
	}
	ckpt, err := safetensors.OpenDir(src)
	if err != nil {
		return err
	}
	defer ckpt.Close()
	weights, err := model.BindWeights(cfg, ckpt)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(out)), "."+filepath.Base(out)+".tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := writeBnB4bit(tmp, src, cfg, ckpt, weights, opt); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

func writeBnB4bit(dir, src string, cfg *model.Config, ckpt *safetensors.Dir, w *model.Weights, opt BnB4bitOptions) error {
	dtype := computeDType(cfg)
	if err := writeQuantizedWeights(dir, ckpt, w, opt, dtype); err != nil {
		return err
	}
	if err := writeQuantizedConfig(dir, src, nf4.NewQuantizationConfig(dtype, opt.DoubleQuant)); err != nil {
		return err
	}
	return copyTokenizer(dir, src)
}

// writeQuantizedWeights writes every tensor of the checkpoint, the projections in NF4 and the rest as
// they are, shard by shard. A shard's weights are quantized just before it is written (the header
// needs their exact sizes), so memory holds at most one shard's worth of quantized data.
func writeQuantizedWeights(dir string, ckpt *safetensors.Dir, w *model.Weights, opt BnB4bitOptions, dtype string) error {
	projections := map[string]model.Linear{}
	for _, l := range w.Layers {
		for _, p := range l.Projections {
			projections[p.Name+".weight"] = p
		}
	}
	names := ckpt.Names()
	sizes := make([]int64, len(names))
	for i, name := range names {
		if p, ok := projections[name]; ok {
			sizes[i] = nf4Bytes(p.Shape, opt)
		} else {
			info, _ := ckpt.Info(name)
			sizes[i] = info.End - info.Begin
		}
	}
	maxShard := opt.MaxShardBytes
	if maxShard <= 0 {
		maxShard = DefaultShardBytes
	}
	groups := safetensors.PlanShards(sizes, maxShard)
	files := safetensors.ShardNames("model", len(groups))
	weightMap := map[string]string{}
	var total int64
	done := 0
	for g, group := range groups {
		var sources []safetensors.Source
		for _, i := range group {
			name := names[i]
			part, err := tensorSources(ckpt, name, projections, opt, dtype)
			if err != nil {
				return err
			}
			sources = append(sources, part...)
			done++
			if opt.Progress != nil {
				opt.Progress(done, len(names))
			}
		}
		for _, s := range sources {
			weightMap[s.Name] = files[g]
			total += int64(s.DType.Size()) * int64(product(s.Shape))
		}
		if err := safetensors.WriteFile(filepath.Join(dir, files[g]), map[string]string{"format": "pt"}, sources); err != nil {
			return err
		}
	}
	if len(groups) == 1 {
		return nil
	}
	return safetensors.WriteIndex(filepath.Join(dir, safetensors.IndexName), weightMap, total)
}

// tensorSources is what the output stores for one tensor of the input: the NF4 tensors of a
// projection, or the tensor itself.
func tensorSources(ckpt *safetensors.Dir, name string, projections map[string]model.Linear, opt BnB4bitOptions, dtype string) ([]safetensors.Source, error) {
	t, err := ckpt.Tensor(name)
	if err != nil {
		return nil, err
	}
	p, ok := projections[name]
	if !ok {
		return []safetensors.Source{safetensors.Bytes(name, t.DType, t.Shape, t.Data)}, nil
	}
	weight, err := t.Float32s()
	if err != nil {
		return nil, err
	}
	q, err := nf4.Quantize(weight, p.Shape[:], opt.Blocksize, opt.DoubleQuant)
	if err != nil {
		return nil, fmt.Errorf("%s: tensor %q: %w", t.File, name, err)
	}
	return nf4.Tensors(p.Name, q, dtype), nil
}

// nf4Bytes bounds the bytes of the tensors bitsandbytes stores for one quantized weight, for planning
// shards before quantizing: the weight's own bytes, its quant_map, and room for the quant_state JSON.
func nf4Bytes(shape [2]int, opt BnB4bitOptions) int64 {
	return nf4.Bytes(shape[0]*shape[1], opt.Blocksize, opt.DoubleQuant) + 16*4 + 256
}

func product(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// computeDType is the dtype bitsandbytes records as the weight's and computes in: the checkpoint's.
func computeDType(cfg *model.Config) string {
	if cfg.TorchDType == "" {
		return "bfloat16"
	}
	return cfg.TorchDType
}

// writeQuantizedConfig copies config.json, keeping every key as it was, and adds quantization_config.
func writeQuantizedConfig(dir, src string, quantization any) error {
	path := filepath.Join(src, "config.json")
	js, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(js, &cfg); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	q, err := json.Marshal(quantization)
	if err != nil {
		return err
	}
	cfg["quantization_config"] = q
	out, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), append(out, '\n'), 0o644)
}

// copyTokenizer copies the tokenizer and generation files that exist in src.
func copyTokenizer(dir, src string) error {
	for _, name := range tokenizerFiles {
		if err := copyFile(filepath.Join(dir, name), filepath.Join(src, name)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("%s: %w", dst, err)
	}
	return out.Close()
}

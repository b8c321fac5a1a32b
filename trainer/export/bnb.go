package export

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/qlora-studio/qlora-studio/internal/safefile"
	"github.com/qlora-studio/qlora-studio/trainer/nf4"
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

// DefaultBnBShardBytes is the shard size of 4-bit exports. A shard's header precedes its data and
// must hold every tensor's exact size, and the size of a quant_state depends on the quantized
// values, so a shard's packed weights are held in memory until it is written: 2 GiB shards keep a
// 65B export within a few gigabytes.
const DefaultBnBShardBytes = 2 << 30

// tokenizerFiles are copied beside the weights so the output loads as a complete model.
var tokenizerFiles = []string{
	"tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json",
	"added_tokens.json", "vocab.json", "merges.txt", "chat_template.jinja",
}

// GenerationConfigName is transformers' file of generation defaults.
const GenerationConfigName = "generation_config.json"

// WriteBnB4bit writes the model in src as a pre-quantized bitsandbytes checkpoint in out: the seven
// projections of every layer in NF4, everything else as it was, config.json with its
// quantization_config, and the tokenizer files. It builds the result in a temporary folder beside out
// and renames it into place, so out appears only when complete; out must not exist yet.
func WriteBnB4bit(src, out string, opt BnB4bitOptions) error {
	if opt.Blocksize == 0 {
		opt.Blocksize = nf4.DefaultBlocksize
	}
	if !nf4.ValidBlocksize(opt.Blocksize) {
		return fmt.Errorf("blocksize %d: want a power of two from 32 to 4096", opt.Blocksize)
	}
	if _, err := os.Lstat(out); err == nil {
		return fmt.Errorf("%s: already exists; choose a new folder", out)
	}
	b, err := openBase(src)
	if err != nil {
		return err
	}
	defer b.Close()
	if q := b.cfg.Quantization; q != nil {
		return fmt.Errorf("%s: already quantized (%s %s)", src, q.Method, q.QuantType)
	}
	plan := &weightsPlan{base: b, quantize: &quantization{opt.Blocksize, opt.DoubleQuant}}
	maxShard := opt.MaxShardBytes
	if maxShard <= 0 {
		maxShard = DefaultShardBytes
	}
	entries := plan.entries()
	ctx := context.Background()
	_, err = stage(ctx, out, estimate(entries)+filesBytes(src, tokenizerFiles), func(tmp string) error {
		if err := writeWeights(ctx, tmp, entries, maxShard, opt.Progress); err != nil {
			return err
		}
		q := nf4.NewQuantizationConfig(b.dtype(), opt.DoubleQuant)
		if err := writeConfig(tmp, src, func(cfg map[string]json.RawMessage) { cfg["quantization_config"] = rawJSON(q) }); err != nil {
			return err
		}
		return copyFiles(ctx, tmp, src, append(tokenizerFiles, GenerationConfigName))
	})
	return err
}

// writeConfig copies config.json, keeping every key as it was, byte for byte, except those edit
// changes.
func writeConfig(dir, src string, edit func(map[string]json.RawMessage)) error {
	path := filepath.Join(src, "config.json")
	js, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(js, &cfg); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	edit(cfg)
	out, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), append(out, '\n'), 0o644)
}

// rawJSON encodes a value that cannot fail to encode (plain structs, strings, numbers).
func rawJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("export: encoding %T: %v", v, err))
	}
	return b
}

// copyFiles copies the named files that exist in src, stopping early when ctx is cancelled.
func copyFiles(ctx context.Context, dir, src string, names []string) error {
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := safefile.Copy(filepath.Join(dir, name), filepath.Join(src, name)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}

// filesBytes is the total size of the named files that exist in dir.
func filesBytes(dir string, names []string) int64 {
	var n int64
	for _, name := range names {
		if st, err := os.Stat(filepath.Join(dir, name)); err == nil {
			n += st.Size()
		}
	}
	return n
}

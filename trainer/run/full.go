package run

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/qlora-studio/qlora-studio/internal/safefile"
	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// Checkpoints of full-parameter training (full_training: true) are complete Hugging Face model
// folders rather than adapters: the trained model is a base model that transformers, llama.cpp's
// converter or this engine (as --model, or as the base of a later fine-tune) load as they load any
// other. They are written in float32, so that a resume continues exactly from the same weights.

// modelFiles are the files of a model folder besides config.json and the weights that a full
// checkpoint copies from the base, when the base has them: the tokenizer and generation settings.
var modelFiles = []string{
	"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
	"tokenizer.model", "added_tokens.json", "vocab.json", "merges.txt", "generation_config.json",
}

// maxShardBytes is transformers' default max_shard_size for save_pretrained.
const maxShardBytes = 5 << 30

// torchDTypes are config.json's names of the dtypes a model folder can be written in.
var torchDTypes = map[safetensors.DType]string{
	safetensors.F32: "float32", safetensors.BF16: "bfloat16", safetensors.F16: "float16",
}

// WriteModel writes a full-training model's current weights into dir as a complete model folder:
// baseDir's config.json with its dtype set to dtype, model.safetensors (sharded with an index
// above 5 GB), and baseDir's tokenizer and generation files copied.
func WriteModel(dir string, m *model.Model, baseDir string, dtype safetensors.DType) error {
	name, ok := torchDTypes[dtype]
	if !ok {
		return fmt.Errorf("write model: dtype %s: want F32, BF16 or F16", dtype)
	}
	sources, err := m.WeightSources(dtype)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := writeModelConfig(filepath.Join(dir, "config.json"), filepath.Join(baseDir, "config.json"), name); err != nil {
		return err
	}
	if _, err := safetensors.WriteShards(dir, "model", maxShardBytes, map[string]string{"format": "pt"}, sources); err != nil {
		return err
	}
	for _, f := range modelFiles {
		b, err := os.ReadFile(filepath.Join(baseDir, f))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if err := safefile.WriteFile(filepath.Join(dir, f), b); err != nil {
			return err
		}
	}
	return nil
}

// writeModelConfig copies the base's config.json with its dtype key (torch_dtype, or dtype as
// transformers 5 writes it) set to the dtype of the weights written.
func writeModelConfig(dst, src, dtype string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	key := "torch_dtype"
	if _, ok := cfg["dtype"]; ok {
		key = "dtype"
	}
	cfg[key], _ = json.Marshal(dtype)
	out, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return safefile.WriteFile(dst, append(out, '\n'))
}

// restoreWeights loads the weights of a full checkpoint into the session's model.
func (s *session) restoreWeights(dir string) error {
	_, ckpt, w, err := model.Open(dir)
	if err != nil {
		return err
	}
	defer ckpt.Close()
	if err := s.m.SetWeights(w); err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	return nil
}

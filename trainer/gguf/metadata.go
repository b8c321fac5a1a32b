package gguf

import (
	"fmt"

	"github.com/qlora-studio/qlora-studio/trainer/model"
)

// Metadata keys this package writes outside the architecture's own ({arch}.*) and the tokenizer's.
const (
	KeyArchitecture        = "general.architecture"
	KeyType                = "general.type"
	KeyName                = "general.name"
	KeyFileType            = "general.file_type"
	KeyQuantizationVersion = "general.quantization_version"
)

// QuantizationVersion is ggml's GGML_QNT_VERSION, the layout of its quantized blocks.
const QuantizationVersion = 2

// Arch is the llama.cpp architecture a config is written as: "llama" for Llama and Mistral,
// "qwen2" for Qwen2.
func Arch(cfg *model.Config) string {
	if cfg.Architecture == model.ArchQwen2 {
		return "qwen2"
	}
	return "llama"
}

// modelKVs is the general.* and {arch}.* metadata of a model whose matrices are of type t. Every
// count is a uint32 and every real number a float32, as llama.cpp's converter writes them.
func modelKVs(cfg *model.Config, name string, t GGMLType) ([]KV, error) {
	fileType, err := FileType(t)
	if err != nil {
		return nil, err
	}
	arch := Arch(cfg)
	u32 := func(key string, v int) KV { return KV{arch + "." + key, Uint32(uint32(v))} }
	f32 := func(key string, v float64) KV { return KV{arch + "." + key, Float32(float32(v))} }
	return []KV{
		{KeyArchitecture, String(arch)},
		{KeyType, String("model")},
		{KeyName, String(name)},
		{KeyFileType, Uint32(fileType)},
		{KeyQuantizationVersion, Uint32(QuantizationVersion)},
		{KeyAlignment, Uint32(DefaultAlignment)},
		u32("vocab_size", cfg.VocabSize),
		u32("context_length", cfg.MaxPositionEmbeddings),
		u32("embedding_length", cfg.HiddenSize),
		u32("block_count", cfg.NumLayers),
		u32("feed_forward_length", cfg.IntermediateSize),
		u32("attention.head_count", cfg.NumHeads),
		u32("attention.head_count_kv", cfg.NumKVHeads),
		u32("attention.key_length", cfg.HeadDim),
		u32("attention.value_length", cfg.HeadDim),
		u32("rope.dimension_count", cfg.HeadDim),
		f32("rope.freq_base", cfg.RopeTheta),
		f32("attention.layer_norm_rms_epsilon", cfg.RMSNormEps),
	}, nil
}

// checkArchitecture refuses what llama.cpp's graph for the architecture would run differently.
func checkArchitecture(cfg *model.Config) error {
	switch {
	case cfg.Quantization != nil:
		return fmt.Errorf("a pre-quantized %s checkpoint cannot be written as GGUF: export the merged 16-bit model", cfg.Quantization.Method)
	case cfg.RopeScaling != nil && cfg.Architecture == model.ArchQwen2:
		return fmt.Errorf("llama.cpp's qwen2 has no %s RoPE scaling", cfg.RopeScaling.Type)
	case cfg.Architecture == model.ArchQwen2 && (cfg.OProjBias || cfg.MLPBias):
		return fmt.Errorf("llama.cpp's qwen2 has no o_proj or MLP biases")
	}
	return nil
}

// Package export writes a run's result in the formats the ecosystem loads: a PEFT adapter, a merged
// Hugging Face model (16 or 32-bit) and a bitsandbytes 4-bit checkpoint, merged or not. GGUF has
// its own package, trainer/gguf.
//
// # Basics
//
// Export takes what a user names (a run folder, one of its checkpoints, or a bare PEFT adapter
// folder; FindCheckpoint) and writes one format into a new folder. A merge computes
// W' = W + scaling·B·A in float32 with float64 accumulation, rounding once to the output dtype,
// into either the base's original 16-bit weights or, for MergeNF4, the base quantized and
// dequantized exactly as the QLoRA trainer saw it, so that the merged model computes what the
// adapter computed in training. A bitsandbytes export merges, then quantizes.
//
// Every format streams: the base is memory-mapped, the adapter is decoded one module at a time,
// and each output tensor is computed when the safetensors writer reaches it, into one reused
// buffer. A merge's anonymous memory is about that of the largest tensor (185 MiB for a 4.6 GB
// model, BenchmarkMerge_Streaming4GB), whatever the model's size.
//
// Every export checks the free disk space first, builds its output in a temporary folder beside
// the destination and renames it at the end; a failure, a full disk or a cancelled context leaves
// nothing behind. The result (Result) says what was written, for the caller to record.
//
// # What this package must not do
//
// It knows nothing of the library database or the UI (callers record a Result), trains nothing,
// and never holds a whole model in memory.
package export

// Package export writes a run's result in the formats the ecosystem loads: a PEFT adapter, a merged
// Hugging Face model, a bitsandbytes 4-bit checkpoint and GGUF.
package export

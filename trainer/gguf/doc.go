// Package gguf writes and reads GGUF, the single-file model format of llama.cpp and Ollama, so that
// a fine-tuned model runs locally without llama.cpp's Python converter.
//
// # Basics
//
// The export of a merged Hugging Face model folder:
//
//	plan, err := gguf.PlanHF("runs/r1/merged", gguf.Options{Type: gguf.Q8_0, Progress: report})
//	defer plan.Close()
//	size, err := plan.Size()   // exact bytes, for the disk-space check
//	err = plan.Write("out/model-Q8_0.gguf")
//
// The plan maps the Hugging Face names to llama.cpp's (model.embed_tokens -> token_embd,
// model.layers.N.self_attn.q_proj -> blk.N.attn_q, lm_head -> output; a tied lm_head is not
// written), reverses every shape into ggml's order (ne[0] innermost), permutes the q and k rows of
// Llama and Mistral as llama.cpp's converter does, keeps norms and biases in F32, adds rope_freqs for
// Llama 3.1's RoPE scaling, and writes the architecture's keys and the tokenizer (SentencePiece
// style as "llama", byte-level BPE as "gpt2") with llama.cpp's key names and value types. Tensors are
// read, converted and encoded one at a time while the file is written, through a temporary file that
// is renamed into place only when complete.
//
// Write and Open are the format itself, for any metadata and tensors: F32, F16, BF16 and Q8_0 are
// encoded and decoded (Q8_0 bit for bit as ggml's reference quantizer); every other ggml type is
// known by its block size, so any llama.cpp file's header reads and checks.
//
// # Caveats
//
//   - Little-endian files only, GGUF versions 2 and 3 read, version 3 written.
//   - The reader requires what gguf.cpp requires: tensor data in order, each tensor at the padded end
//     of the one before, names of at most 63 bytes, at most 4 dimensions, no duplicate keys or names.
//   - Only the llama (Llama, Mistral) and qwen2 architectures are exported. llama.cpp's llama graph
//     has no sliding-window attention: a Mistral with sliding_window differs beyond the window.
//   - The package does not merge adapters or quantize to k-quants; it writes what it is given.
package gguf

// Package tokenizer reads Hugging Face tokenizer.json files (SentencePiece-style BPE with byte
// fallback, and byte-level BPE) and applies chat templates, matching the reference tokenizers token
// for token.
package tokenizer

// Package tokenizer reads Hugging Face tokenizers (tokenizer.json, tokenizer_config.json) and
// renders chat templates, matching the reference token for token: a tokenizer that is off by one
// token silently ruins a fine-tune. It does not pad, truncate or encode pairs of texts, and it
// refuses (with ErrUnsupported and the file's name) any component it cannot run exactly rather
// than run it approximately.
//
// It also trains byte-level BPE tokenizers for models trained from scratch (TrainBPE,
// WriteTrained; `qlora tokenizer train`): Llama 3's pipeline (its Split pattern, GPT-2's byte
// alphabet, ignore_merges, BOS from a TemplateProcessing post-processor) with ChatML's special
// tokens, written as a standard tokenizer.json and tokenizer_config.json.
//
// # Basics
//
//	tok, err := tokenizer.Load("models/llama-3-8b")     // or .../tokenizer.json
//	ids := tok.Encode("Hello world", true)               // with the post-processor's BOS, as HF's encode
//	text := tok.Decode(ids, true)                        // without special tokens
//	eos, ok := tok.EOS()
//
// What is supported is what Llama-family models use: BPE models, SentencePiece style (Llama 2,
// Mistral: Prepend/Replace normalizers or a Metaspace pre-tokenizer, <0xNN> byte fallback,
// unknown tokens) and byte-level (Llama 3, Qwen2/3: a Split regex, ByteLevel, ignore_merges, NFC);
// added and special tokens with lstrip/rstrip/single_word/normalized; Sequence, Prepend, Append,
// Replace, NFC/NFD/NFKC/NFKD, Lowercase and Strip normalizers; Split, ByteLevel, Metaspace,
// Digits and WhitespaceSplit pre-tokenizers; TemplateProcessing, ByteLevel, Bert and Roberta
// post-processors; Replace, ByteFallback, Fuse, Strip, ByteLevel, Metaspace and BPE decoders.
//
// The Split regexes of the GPT-2 family (GPT-2's, Llama 3's, Qwen2's) run on hand scanners that
// reproduce Oniguruma's matches, `\s+(?!\S)` included; other regexes run on Go's regexp after a
// translation that gives `\s`, `\d` and `\w` their Unicode meaning and handles that one lookahead.
//
// # Chat templates
//
// A model's own template (tokenizer_config.json's chat_template, or chat_template.jinja) is
// rendered with gonja as transformers renders it with Jinja2; built-in templates (llama2, llama3,
// chatml, mistral, alpaca) serve models without one. Rendered text holds its special tokens as
// text: encode it with Encode(text, false).
//
// To train on the assistant's turns only, ChatTemplate.Parts cuts a conversation into prompt and
// assistant parts by rendering it piecewise: the prompt up to an assistant turn with the
// generation prompt, then the conversation including that turn, and taking the difference. For
// token labels, encode the prompt side (the parts before an assistant part, joined) and the whole
// text, check that the first ids are a prefix of the second, and mark the rest as the
// assistant's; templates that end each part with a special token or a new line always pass that
// check.
//
// # Caveats
//
//   - Decode is the tokenizers library's decode: it does not apply transformers'
//     clean_up_tokenization_spaces (Llama 3's tokenizer_config.json asks for it), which would
//     change " ." into "." and lose the round trip.
//   - For the Llama tokenizer classes, tokenizer_config.json's add_bos_token and add_eos_token
//     decide the special tokens Encode adds, as transformers' LlamaTokenizerFast does; other
//     classes follow tokenizer.json's post-processor.
//   - Character classes come from Go's Unicode 15.0 tables (unicode, x/text/unicode/norm); a
//     character assigned in a later Unicode version may split or normalize differently.
//   - Lowercase uses Go's case mapping, which lowers "İ" to "i" where Rust writes "i̇".
//   - Text that is not valid UTF-8 is read as Rust's from_utf8_lossy reads it (HF never sees
//     such text).
//   - An rstrip added token followed at once by another added token that starts with white space
//     splits where HF's would overlap; no real tokenizer has such a pair.
//   - Chat templates: gonja is not Jinja2. Python's strip/lstrip/rstrip, trim and tojson are
//     reimplemented here; tojson writes a Go map's keys as role, content, then alphabetically.
//     The templates of Llama 3, Qwen3 and the built-ins render exactly as Jinja2 does.
package tokenizer

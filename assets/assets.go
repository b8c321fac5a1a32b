// Package assets embeds what ships inside the programs: the icon, the built-in presets, and the
// demo model, tokenizer and dataset.
package assets

import "embed"

// Presets holds the built-in run presets, one YAML file per preset named by its id.
//
//go:embed presets/*.yaml
var Presets embed.FS

// Icon is the app icon, a 512×512 PNG drawn by scripts/icon (`go run ./scripts/icon`).
//
//go:embed icon.png
var Icon []byte

// Demo holds what `qlora demo` imports into the library the first time: demo/model/ (the demo base
// model: config.json, model.safetensors, tokenizer.json, tokenizer_config.json; see
// demo/README.md) and the demo task's rows, demo/train.jsonl (the fine-tune) and
// demo/heldout.jsonl (the questions scored before and after).
//
//go:embed demo/model/config.json demo/model/model.safetensors demo/model/tokenizer.json demo/model/tokenizer_config.json
//go:embed demo/train.jsonl demo/heldout.jsonl
var Demo embed.FS

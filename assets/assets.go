// Package assets embeds what ships inside the programs: the icon, the built-in presets, and the
// demo model, tokenizer and dataset.
package assets

import "embed"

// Presets holds the built-in run presets, one YAML file per preset named by its id.
//
//go:embed presets/*.yaml
var Presets embed.FS

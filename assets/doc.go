// Package assets embeds what ships inside the programs: the icon, the built-in presets, and the
// demo model, tokenizer and dataset.
package assets

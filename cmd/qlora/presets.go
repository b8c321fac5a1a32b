package main

import (
	"fmt"
	"io"

	"github.com/qlora-studio/qlora-studio/trainer/run"
)

func runPresets(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("presets", "list | show ID", stderr)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 1 && pos[0] == "list":
		presets, err := run.Presets()
		if err != nil {
			return err
		}
		for _, p := range presets {
			fmt.Fprintf(stdout, "%-12s %s\n", p.ID, p.Title)
		}
		return nil
	case len(pos) == 2 && pos[0] == "show":
		p, err := run.LookupPreset(pos[1])
		if err != nil {
			return err
		}
		_, err = stdout.Write(p.YAML)
		return err
	}
	return fmt.Errorf("%w: qlora presets list | qlora presets show ID", errUsage)
}

// runConfig prints the whole configuration a preset (or a run.yaml, or both) resolves to, every key
// included, as a run.yaml to edit: `qlora config 65b-48gb > run.yaml`. Given a complete run.yaml
// alone it prints that file back, checked.
func runConfig(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("config", "PRESET_ID [--config run.yaml] [--set key=value]...", stderr)
	config := fs.String("config", "", "a run.yaml whose keys override the preset (or stand alone)")
	var sets stringList
	fs.Var(&sets, "set", "override one key, key=value (repeatable)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 || len(pos) == 0 && *config == "" {
		return fmt.Errorf("%w: qlora config PRESET_ID > run.yaml, or qlora config --config run.yaml", errUsage)
	}
	layers := run.Layers{Sets: sets}
	var header string
	if len(pos) == 1 {
		p, err := run.LookupPreset(pos[0])
		if err != nil {
			return err
		}
		layers.Docs = append(layers.Docs, p.Doc())
		header = fmt.Sprintf("# %s (preset %s)\n", p.Title, p.ID)
	}
	if *config != "" {
		d, err := run.ReadDoc(*config)
		if err != nil {
			return err
		}
		layers.Docs = append(layers.Docs, d)
	}
	c, err := layers.Resolve()
	if err != nil {
		return err
	}
	b, err := c.Marshal()
	if err != nil {
		return err
	}
	_, err = io.WriteString(stdout, header+string(b))
	return err
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return fmt.Sprint(*s) }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/qlora-studio/qlora-studio/trainer/model"
)

func runInspect(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("inspect", "MODEL_DIR [--json]", stderr)
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: qlora inspect MODEL_DIR [--json]", errUsage)
	}
	s, err := model.Inspect(pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	s.WriteText(stdout)
	return nil
}

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/qlora-studio/qlora-studio/trainer/model"
)

func runEval(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval", "--model DIR [--adapter PEFT_DIR] --tokens FILE.json [--base-precision nf4|full] [--json]", stderr)
	modelDir := fs.String("model", "", "model folder (config.json and safetensors)")
	adapterDir := fs.String("adapter", "", "PEFT adapter folder to apply")
	tokensPath := fs.String("tokens", "", `token ids: {"ids": [[...], ...]} or {"ids": [...]}`)
	base := fs.String("base-precision", "nf4", "the frozen base: nf4 (QLoRA) or full (as stored)")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if *modelDir == "" || *tokensPath == "" {
		return fmt.Errorf("%w: qlora eval --model DIR --tokens FILE.json", errUsage)
	}
	basePrecision, err := parseBase(*base)
	if err != nil {
		return err
	}
	seqs, err := readTokenIDs(*tokensPath)
	if err != nil {
		return err
	}
	m, err := loadForInference(*modelDir, *adapterDir, basePrecision)
	if err != nil {
		return err
	}
	var sum float64
	var tokens int
	for i, ids := range seqs {
		if len(ids) < 2 {
			continue // nothing to predict
		}
		s, n, err := m.Forward(model.Sequence(ids), false, 0)
		if err != nil {
			return fmt.Errorf("%s: sequence %d: %w", *tokensPath, i, err)
		}
		sum, tokens = sum+s, tokens+n
	}
	loss := sum / float64(max(tokens, 1))
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{"loss": loss, "tokens": tokens})
	}
	fmt.Fprintf(stdout, "loss %.6f over %d tokens (perplexity %.3f)\n", loss, tokens, math.Exp(loss))
	return nil
}

// readTokenIDs reads {"ids": [[...], ...]} (one list per sequence) or {"ids": [...]} (one sequence).
func readTokenIDs(path string) ([][]int32, error) {
	js, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		IDs json.RawMessage `json:"ids"`
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var many [][]int32
	if err := json.Unmarshal(doc.IDs, &many); err == nil {
		return many, nil
	}
	var one []int32
	if err := json.Unmarshal(doc.IDs, &one); err != nil || one == nil {
		return nil, fmt.Errorf(`%s: "ids" must be a list of token ids or a list of such lists`, path)
	}
	return [][]int32{one}, nil
}

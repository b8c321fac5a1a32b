package democorpus

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/qlora-studio/qlora-studio/internal/tinymodel"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// Shape is the demo base model's architecture, `qlora bench`'s cpu-small shape; the vocabulary
// comes from the trained tokenizer.
var Shape = tinymodel.Shape{Arch: "llama", Hidden: 256, Intermediate: 688, Layers: 4, Heads: 8, KVHeads: 4}

// Tokenizer is what the demo needs of a tokenizer (trainer/tokenizer's satisfies it).
type Tokenizer interface {
	Encode(text string, addSpecial bool) []int32
	BOS() (int32, bool)
	EOS() (int32, bool)
	VocabSize() int
}

// InitModel writes the pretraining's starting point into dir: a Llama of shape s (its vocabulary,
// BOS and EOS taken from tok, which must have an EOS) with seeded random weights, and the tokenizer's files copied from
// tokDir.
func InitModel(dir, tokDir string, tok Tokenizer, s tinymodel.Shape, seed uint64) error {
	s.Vocab = tok.VocabSize()
	eos, ok := tok.EOS()
	if !ok {
		return fmt.Errorf("%s: the tokenizer has no EOS token: documents must end with one", tokDir)
	}
	s.EOS = []int{int(eos)}
	s.BOS = int(eos) // a tokenizer without BOS starts nothing with it; the config still names one
	if bos, ok := tok.BOS(); ok {
		s.BOS = int(bos)
	}
	if err := tinymodel.Write(dir, s, seed); err != nil {
		return err
	}
	for _, name := range []string{"tokenizer.json", "tokenizer_config.json"} {
		b, err := os.ReadFile(filepath.Join(tokDir, name))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// TokenEntropy reads a corpus JSONL file ({"text": ...} a line) and returns the unigram entropy,
// in nats, of its tokens as training sees them (each text, then EOS), and how many there are.
func TokenEntropy(path string, tok Tokenizer) (float64, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	eos, hasEOS := tok.EOS()
	counts := map[int32]int{}
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for line := 1; sc.Scan(); line++ {
		var row struct{ Text string }
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return 0, 0, fmt.Errorf("%s line %d: %w", path, line, err)
		}
		ids := tok.Encode(row.Text, false)
		if hasEOS {
			ids = append(ids, eos)
		}
		for _, id := range ids {
			counts[id]++
		}
		n += len(ids)
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	return UnigramEntropy(counts), n, nil
}

// InstallModel copies a pretraining checkpoint (a float32 model folder) into dir as the demo
// ships it: model.safetensors in bfloat16, config.json saying so, and the tokenizer's files.
func InstallModel(dir, checkpoint string) error {
	f, err := safetensors.Open(filepath.Join(checkpoint, safetensors.SingleName))
	if err != nil {
		return err
	}
	defer f.Close()
	var sources []safetensors.Source
	for _, name := range f.Names() {
		t, err := f.Tensor(name)
		if err != nil {
			return err
		}
		v, err := t.Float32s()
		if err != nil {
			return err
		}
		sources = append(sources, safetensors.Bytes(name, safetensors.BF16, t.Shape, safetensors.EncodeBF16s(v)))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := safetensors.WriteFile(filepath.Join(dir, safetensors.SingleName), map[string]string{"format": "pt"}, sources); err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(checkpoint, "config.json"))
	if err != nil {
		return err
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(checkpoint, "config.json"), err)
	}
	delete(cfg, "dtype")
	cfg["torch_dtype"] = "bfloat16"
	js, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	for _, name := range []string{"tokenizer.json", "tokenizer_config.json"} {
		b, err := os.ReadFile(filepath.Join(checkpoint, name))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

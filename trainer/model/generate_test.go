package model

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/backend/cpu"
	"github.com/qlora-studio/qlora-studio/trainer/lora"
)

// goldenModel loads a golden variant with its adapter, in float64 on the CPU.
func goldenModel(t *testing.T, variant string, base BasePrecision) *Model {
	t.Helper()
	dir := filepath.Join(goldenDir, variant)
	ad, err := lora.Load(filepath.Join(dir, "adapter"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Load(cpu.New[float64](), dir, Options{Base: base, Blocksize: 64, DoubleQuant: true, Adapter: ad.Config, Init: ad})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestGenerate_GreedyIsArgmax ensures greedy generation with the key/value cache picks, at every
// position, the argmax of a full forward pass over the sequence so far — with grouped-query heads,
// a sliding window shorter than the text, tied embeddings and biases.
func TestGenerate_GreedyIsArgmax(t *testing.T) {
	for _, variant := range goldenVariants {
		m := goldenModel(t, variant, BaseNF4)
		prompt := []int32{5, 17, 99, 3, 42, 8}
		gen, err := m.Generate(prompt, Sampling{MaxTokens: 12})
		if err != nil {
			t.Fatal(err)
		}
		if len(gen) != 12 {
			t.Fatalf("%s: %d tokens", variant, len(gen))
		}
		seq := append(append([]int32(nil), prompt...), gen...)
		if _, _, err := m.Forward(Sequence(seq), false, 0); err != nil {
			t.Fatal(err)
		}
		logits, v := m.Logits(), m.Config.VocabSize
		for i := range gen {
			row := logits[(len(prompt)-1+i)*v : (len(prompt)+i)*v]
			best := 0
			for j := range row {
				if row[j] > row[best] {
					best = j
				}
			}
			if int32(best) != gen[i] {
				t.Fatalf("%s: token %d generated %d, the forward pass's argmax is %d", variant, i, gen[i], best)
			}
		}
	}
}

// TestGenerate_Sampling ensures sampling is reproducible from its seed, differs across seeds, and
// stops at a stop token.
func TestGenerate_Sampling(t *testing.T) {
	m := goldenModel(t, "llama", BaseFull)
	prompt := []int32{1, 9, 33, 4}
	s := Sampling{MaxTokens: 20, Temperature: 1.5, TopP: 0.95, Seed: 7}
	a, _ := m.Generate(prompt, s)
	b, _ := m.Generate(prompt, s)
	s.Seed = 8
	c, _ := m.Generate(prompt, s)
	if !reflect.DeepEqual(a, b) || reflect.DeepEqual(a, c) {
		t.Errorf("seed 7 twice: %v / %v; seed 8: %v", a, b, c)
	}
	s.Seed, s.Stop = 7, []int32{a[3]}
	stopped, _ := m.Generate(prompt, s)
	if len(stopped) > 4 || stopped[len(stopped)-1] != a[3] {
		t.Errorf("stop at %d: got %v from %v", a[3], stopped, a)
	}
}

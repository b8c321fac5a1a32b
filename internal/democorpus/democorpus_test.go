package democorpus

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestTask_HeldOutIsNew ensures the demo task holds out at least 50 countries whose questions no
// training row asks, and that every country appears in exactly one of the two sides.
func TestTask_HeldOutIsNew(t *testing.T) {
	train, held := Task()
	if len(held) < 50 || len(held) != HeldOutCountries {
		t.Fatalf("%d held-out rows; want %d (at least 50)", len(held), HeldOutCountries)
	}
	trained := map[string]bool{}
	for _, r := range train {
		trained[r.Answer()] = true
	}
	for _, r := range held {
		if trained[r.Answer()] {
			t.Errorf("held-out %q: its capital %q is also trained on", r.Prompt, r.Answer())
		}
	}
	if len(trained)+len(held) != len(Countries) || len(train) != len(trainQuestions)*len(trained) {
		t.Errorf("%d trained capitals, %d held out, %d training rows; want %d countries in all", len(trained), len(held), len(train), len(Countries))
	}
}

// TestTask_CommittedFiles ensures assets/demo's train.jsonl and heldout.jsonl are what the script
// writes today: the committed dataset is reproducible.
func TestTask_CommittedFiles(t *testing.T) {
	train, held := Task()
	for name, rows := range map[string][]Row{"train.jsonl": train, "heldout.jsonl": held} {
		var want bytes.Buffer
		if err := WriteRows(&want, rows); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile("../../assets/demo/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Errorf("assets/demo/%s differs from what `go run ./scripts/democorpus -task assets/demo` writes", name)
		}
	}
}

// TestGenerate_Deterministic ensures the corpus depends on its seed only, states every capital,
// and never uses the task's answer format (so the base model cannot already know it).
func TestGenerate_Deterministic(t *testing.T) {
	a, b := Generate(15, 200_000), Generate(15, 200_000)
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Fatal("the same seed gave two corpora")
	}
	if c := Generate(16, 200_000); strings.Join(a, "\n") == strings.Join(c, "\n") {
		t.Fatal("another seed gave the same corpus")
	}
	text := strings.Join(Generate(15, 2<<20), "\n")
	for _, c := range Countries {
		if !strings.Contains(text, "The capital of "+c.Name+" is "+c.Capital+".") {
			t.Errorf("the corpus never says the capital of %s is %s", c.Name, c.Capital)
		}
	}
	for _, w := range []string{"Question:", "Answer:"} {
		if strings.Contains(text, w) {
			t.Errorf("the corpus uses the task's format %q", w)
		}
	}
}

// TestUnigramEntropy ensures the entropy of known distributions, in nats.
func TestUnigramEntropy(t *testing.T) {
	cases := []struct {
		counts map[string]int
		want   float64
	}{
		{map[string]int{"a": 5}, 0},
		{map[string]int{"a": 1, "b": 1}, 0.6931471805599453},
		{map[string]int{"a": 2, "b": 2, "c": 2, "d": 2}, 1.3862943611198906},
	}
	for _, c := range cases {
		if got := UnigramEntropy(c.counts); got < c.want-1e-12 || got > c.want+1e-12 {
			t.Errorf("UnigramEntropy(%v) = %v, want %v", c.counts, got, c.want)
		}
	}
}

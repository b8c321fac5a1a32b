package data

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkLoad measures reading and tokenizing an alpaca file of 2,000 rows with the tiny tokenizer.
func BenchmarkLoad(b *testing.B) {
	var rows []string
	for i := range 2000 {
		rows = append(rows, fmt.Sprintf(`{"instruction": "Question %d: what is the capital of France?", "input": "%s", "output": "The capital of France is Paris. %s"}`,
			i, strings.Repeat("context ", i%50), strings.Repeat("More words follow. ", i%30)))
	}
	path := writeFile(b, "bench.jsonl", lines(rows...))
	tpl := chatml(b)
	b.ResetTimer()
	for range b.N {
		if _, err := Load(path, tiny, Options{Template: tpl, MaxLength: 512}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoader_Batch measures building packed batches of 4 × 2048 tokens.
func BenchmarkLoader_Batch(b *testing.B) {
	l, err := NewLoader(manySamples(5000, 1000), LoaderConfig{BatchSize: 4, MaxLength: 2048, Packing: true, Shuffle: true, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		l.Batch(Position{Epoch: i / l.Len(), Step: i % l.Len()})
	}
}

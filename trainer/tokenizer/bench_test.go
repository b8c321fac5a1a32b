package tokenizer

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// englishText is Newton's Opticks from Go's own test data (567 kB of English prose), cut into
// paragraphs as a training corpus would hand them over.
func englishText(b *testing.B) []string {
	data, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "src", "testdata", "Isaac.Newton-Opticks.txt"))
	if err != nil {
		b.Skipf("no English text to measure with: %v", err)
	}
	return strings.Split(string(data), "\n\n")
}

// benchmarkEncode encodes the text paragraph by paragraph; cold empties the word cache first, as
// for the first pass over a corpus.
func benchmarkEncode(b *testing.B, name string, cold bool) {
	tok := loadNPM(b, name)
	paragraphs := englishText(b)
	total := 0
	for _, p := range paragraphs {
		total += len(p)
	}
	b.SetBytes(int64(total))
	b.ResetTimer()
	for b.Loop() {
		if cold {
			tok.model.cache.reset()
		}
		for _, p := range paragraphs {
			tok.Encode(p, false)
		}
	}
}

// BenchmarkEncode_Llama3 measures byte-level BPE (ignore_merges) on English text, one core.
func BenchmarkEncode_Llama3(b *testing.B) { benchmarkEncode(b, "llama3", false) }

// BenchmarkEncode_Llama3Cold is the same without the word cache's help.
func BenchmarkEncode_Llama3Cold(b *testing.B) { benchmarkEncode(b, "llama3", true) }

// BenchmarkEncode_Qwen3 measures byte-level BPE with NFC and every word merged.
func BenchmarkEncode_Qwen3(b *testing.B) { benchmarkEncode(b, "qwen3", false) }

// BenchmarkEncode_Qwen3Cold is the same without the word cache's help.
func BenchmarkEncode_Qwen3Cold(b *testing.B) { benchmarkEncode(b, "qwen3", true) }

// BenchmarkEncode_Mistral measures SentencePiece-style BPE, where a paragraph is one word.
func BenchmarkEncode_Mistral(b *testing.B) { benchmarkEncode(b, "llama2", false) }

// BenchmarkDecode_Llama3 measures decoding the ids of the same text.
func BenchmarkDecode_Llama3(b *testing.B) {
	tok := loadNPM(b, "llama3")
	paragraphs := englishText(b)
	ids := make([][]int32, len(paragraphs))
	total := 0
	for i, p := range paragraphs {
		ids[i] = tok.Encode(p, false)
		total += len(p)
	}
	b.SetBytes(int64(total))
	b.ResetTimer()
	for b.Loop() {
		for _, x := range ids {
			tok.Decode(x, false)
		}
	}
}

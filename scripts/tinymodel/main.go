// Command tinymodel writes a small Llama-family checkpoint with seeded random weights (see
// internal/tinymodel). It made testdata/models/tiny-llama:
//
//	go run ./scripts/tinymodel -out testdata/models/tiny-llama
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/qlora-studio/qlora-studio/internal/tinymodel"
)

func main() {
	s := tinymodel.Tiny
	out := flag.String("out", "testdata/models/tiny-llama", "folder to write")
	flag.StringVar(&s.Arch, "arch", s.Arch, "llama, mistral or qwen2")
	flag.IntVar(&s.Vocab, "vocab", s.Vocab, "vocabulary size")
	flag.IntVar(&s.Hidden, "hidden", s.Hidden, "hidden size")
	flag.IntVar(&s.Intermediate, "intermediate", s.Intermediate, "MLP size")
	flag.IntVar(&s.Layers, "layers", s.Layers, "layers")
	flag.IntVar(&s.Heads, "heads", s.Heads, "attention heads")
	flag.IntVar(&s.KVHeads, "kv-heads", s.KVHeads, "key/value heads")
	flag.BoolVar(&s.Tied, "tied", s.Tied, "tie lm_head to the embeddings")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if err := tinymodel.Write(*out, s, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "tinymodel:", err)
		os.Exit(1)
	}
}

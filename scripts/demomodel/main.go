// Command demomodel starts the demo base model's pretraining: it writes a Llama with seeded random
// weights (internal/tinymodel) sized for a trained tokenizer, with that tokenizer beside it, into a
// folder that `qlora train --set full_training=true` then trains. With -corpus it also prints the
// corpus's unigram entropy over the tokenizer's tokens, the loss a model that ignores context
// cannot beat (see assets/demo/README.md).
//
//	go run ./scripts/demomodel -tokenizer bin/demo/tokenizer -out bin/demo/init -corpus bin/demo/corpus.jsonl
//	go run ./scripts/demomodel -install bin/demo/run/checkpoints/step-600 -out assets/demo/model
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/qlora-studio/qlora-studio/internal/democorpus"
	"github.com/qlora-studio/qlora-studio/trainer/tokenizer"
)

func main() {
	s := democorpus.Shape
	tokDir := flag.String("tokenizer", "", "folder with the trained tokenizer.json and tokenizer_config.json")
	out := flag.String("out", "", "folder to write the random model into")
	corpus := flag.String("corpus", "", "a corpus JSONL ({\"text\": ...} a line) to print the unigram entropy of")
	install := flag.String("install", "", "instead: copy this pretraining checkpoint into -out in bfloat16, as assets/demo/model ships")
	flag.IntVar(&s.Hidden, "hidden", s.Hidden, "hidden size")
	flag.IntVar(&s.Intermediate, "intermediate", s.Intermediate, "MLP size")
	flag.IntVar(&s.Layers, "layers", s.Layers, "layers")
	flag.IntVar(&s.Heads, "heads", s.Heads, "attention heads")
	flag.IntVar(&s.KVHeads, "kv-heads", s.KVHeads, "key/value heads")
	seed := flag.Uint64("seed", 15, "random seed")
	flag.Parse()
	if *install != "" && *out != "" {
		must(democorpus.InstallModel(*out, *install))
		return
	}
	if *tokDir == "" || (*out == "" && *corpus == "") {
		flag.Usage()
		os.Exit(2)
	}
	tok, err := tokenizer.Load(*tokDir)
	must(err)
	if *out != "" {
		must(democorpus.InitModel(*out, *tokDir, tok, s, *seed))
		fmt.Printf("wrote %s: %d layers, hidden %d, vocab %d\n", *out, s.Layers, s.Hidden, tok.VocabSize())
	}
	if *corpus != "" {
		h, n, err := democorpus.TokenEntropy(*corpus, tok)
		must(err)
		fmt.Printf("%s: %d tokens, unigram entropy %.4f nats/token\n", filepath.Base(*corpus), n, h)
	}
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "demomodel:", err)
		os.Exit(1)
	}
}

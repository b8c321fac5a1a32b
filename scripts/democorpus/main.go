// Command democorpus writes the demo's text: the pretraining corpus of the demo base model (simple
// stories, counting and geography, generated from word lists and templates with a fixed seed, so
// licence-clean by construction) and the demo task's fine-tuning and held-out rows. It prints the
// corpus's size and its unigram entropy over bytes and over words; `qlora demo`'s tests compare
// losses with the entropy over the model's tokens, which the recipe prints after training the
// tokenizer (see assets/demo/README.md).
//
//	go run ./scripts/democorpus -corpus bin/demo/corpus.jsonl -task assets/demo
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/qlora-studio/qlora-studio/internal/democorpus"
)

func main() {
	corpus := flag.String("corpus", "", "write the corpus here as JSONL ({\"text\": ...} a line)")
	text := flag.String("text", "", "also write the corpus here as plain text, one document a line (for the tokenizer trainer)")
	size := flag.Int("size", 8<<20, "corpus size in bytes of text")
	seed := flag.Uint64("seed", 15, "corpus seed")
	task := flag.String("task", "", "write the demo task's train.jsonl and heldout.jsonl into this folder")
	flag.Parse()
	if *corpus == "" && *task == "" {
		flag.Usage()
		os.Exit(2)
	}
	if *corpus != "" {
		docs := democorpus.Generate(*seed, *size)
		must(writeFile(*corpus, func(w *bufio.Writer) error { return democorpus.WriteJSONL(w, docs) }))
		if *text != "" {
			must(writeFile(*text, func(w *bufio.Writer) error {
				for _, d := range docs {
					if _, err := w.WriteString(d + "\n"); err != nil {
						return err
					}
				}
				return nil
			}))
		}
		bytes, words := map[byte]int{}, map[string]int{}
		n := 0
		for _, d := range docs {
			n += len(d)
			for i := 0; i < len(d); i++ {
				bytes[d[i]]++
			}
			for _, w := range strings.Fields(d) {
				words[w]++
			}
		}
		fmt.Printf("corpus: %d documents, %d bytes, %d distinct words\n", len(docs), n, len(words))
		fmt.Printf("unigram entropy: %.4f nats/byte, %.4f nats/word\n", democorpus.UnigramEntropy(bytes), democorpus.UnigramEntropy(words))
	}
	if *task != "" {
		train, held := democorpus.Task()
		must(writeFile(filepath.Join(*task, "train.jsonl"), func(w *bufio.Writer) error { return democorpus.WriteRows(w, train) }))
		must(writeFile(filepath.Join(*task, "heldout.jsonl"), func(w *bufio.Writer) error { return democorpus.WriteRows(w, held) }))
		fmt.Printf("task: %d training rows, %d held-out rows\n", len(train), len(held))
	}
}

func writeFile(path string, write func(*bufio.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	if err := write(w); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "democorpus:", err)
		os.Exit(1)
	}
}

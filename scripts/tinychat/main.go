// Command tinychat writes the tiny chat model (random weights, a real byte-level tokenizer with a
// ChatML template) and the capitals dataset that `make run` fine-tunes it on.
//
//	go run ./scripts/tinychat -out bin/example
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/qlora-studio/qlora-studio/internal/fixtures"
)

func main() {
	out := flag.String("out", "bin/example", "folder to write model/ and capitals.jsonl into")
	flag.Parse()
	model := filepath.Join(*out, "model")
	if err := os.MkdirAll(model, 0o755); err != nil {
		fail(err)
	}
	if err := fixtures.ChatModel(model, 5); err != nil {
		fail(err)
	}
	if err := fixtures.Capitals(filepath.Join(*out, "capitals.jsonl"), 256); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "tinychat:", err)
	os.Exit(1)
}

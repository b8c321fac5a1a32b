package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/qlora-studio/qlora-studio/trainer/tokenizer"
)

const tokenizerTrainSynopsis = "--corpus FILE --vocab N --out DIR [--min-frequency N]"

// runTokenizer is `qlora tokenizer SUBCOMMAND`; train is the one there is.
func runTokenizer(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "train" {
		return fmt.Errorf("%w: qlora tokenizer train %s", errUsage, tokenizerTrainSynopsis)
	}
	return runTokenizerTrain(args[1:], stdout, stderr)
}

// runTokenizerTrain learns a byte-level BPE tokenizer from a text corpus and writes tokenizer.json
// and tokenizer_config.json (ChatML template) into a folder, for a model trained from scratch.
func runTokenizerTrain(args []string, stdout, stderr io.Writer) error {
	flags := newFlags("tokenizer train", tokenizerTrainSynopsis, stderr)
	corpus := flags.String("corpus", "", "UTF-8 text to learn from, read line by line; - for standard input")
	vocab := flags.Int("vocab", 0, "the vocabulary size, counting the 256 bytes and the 4 special tokens")
	out := flags.String("out", "", "the folder to write tokenizer.json and tokenizer_config.json into")
	minFreq := flags.Int("min-frequency", 2, "the fewest occurrences a pair of tokens needs to be merged")
	pos, err := parseInterspersed(flags, args)
	if err != nil {
		return err
	}
	if *corpus == "" || *out == "" || *vocab == 0 || *minFreq < 1 || len(pos) != 0 {
		return fmt.Errorf("%w: qlora tokenizer train %s", errUsage, tokenizerTrainSynopsis)
	}
	if _, err := os.Stat(filepath.Join(*out, "tokenizer.json")); !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s already holds a tokenizer.json; write into another folder", *out)
	}
	in := io.Reader(os.Stdin)
	if *corpus != "-" {
		f, err := os.Open(*corpus)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	trained, err := tokenizer.TrainBPE(in, tokenizer.TrainOptions{VocabSize: *vocab, MinFrequency: *minFreq})
	if err != nil {
		return fmt.Errorf("%s: %w", *corpus, err)
	}
	if err := tokenizer.WriteTrained(*out, trained); err != nil {
		return err
	}
	if n := len(trained.Tokens); n < *vocab {
		fmt.Fprintf(stderr, "note: no pair occurs %d times after %d merges, so the vocabulary has %d tokens, not %d\n", *minFreq, len(trained.Merges), n, *vocab)
	}
	fmt.Fprintf(stdout, "wrote %s: %s\n", *out, trained)
	return nil
}

package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/qlora-studio/qlora-studio/trainer/tokenizer"
)

func runTokenize(args []string, stdout, stderr io.Writer) error {
	const synopsis = "--tokenizer DIR_OR_FILE (--text STR | --file F) [--no-special] [--json]"
	fs := newFlags("tokenize", synopsis, stderr)
	tokPath := fs.String("tokenizer", "", "a folder with tokenizer.json (and tokenizer_config.json), or the file")
	text := fs.String("text", "", "the text to encode")
	file := fs.String("file", "", "a UTF-8 file to encode, - for standard input")
	noSpecial := fs.Bool("no-special", false, "add no special tokens (by default those the post-processor adds, such as BOS)")
	asJSON := fs.Bool("json", false, `print {"ids": [...]}, as qlora eval --tokens reads it`)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	textSet := flagSet(fs, "text")
	if *tokPath == "" || len(pos) != 0 || textSet == (*file != "") {
		return fmt.Errorf("%w: qlora tokenize %s", errUsage, synopsis)
	}
	tok, err := tokenizer.Load(*tokPath)
	if err != nil {
		return err
	}
	input := *text
	if !textSet {
		data, err := readInput(*file)
		if err != nil {
			return err
		}
		if !utf8.Valid(data) {
			return fmt.Errorf("%s: not UTF-8 text", *file)
		}
		input = string(data)
	}
	ids := tok.Encode(input, !*noSpecial)
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string][]int32{"ids": nonNil(ids)})
	}
	for _, id := range ids {
		s, _ := tok.Token(id)
		fmt.Fprintf(stdout, "%8d  %s\n", id, strconv.Quote(s))
	}
	fmt.Fprintf(stdout, "%d tokens\n", len(ids))
	return nil
}

func runDetokenize(args []string, stdout, stderr io.Writer) error {
	const synopsis = "--tokenizer DIR_OR_FILE (--ids \"1 2 3\" | --file F) [--skip-special] [--json]"
	fs := newFlags("detokenize", synopsis, stderr)
	tokPath := fs.String("tokenizer", "", "a folder with tokenizer.json (and tokenizer_config.json), or the file")
	idList := fs.String("ids", "", "token ids separated by spaces or commas, or a JSON list")
	file := fs.String("file", "", `a file of ids: {"ids": [...]} as tokenize --json writes, a JSON list, or numbers; - for standard input`)
	skipSpecial := fs.Bool("skip-special", false, "leave special tokens out of the text")
	asJSON := fs.Bool("json", false, `print {"text": "..."} instead of the bare text`)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	idsSet := flagSet(fs, "ids")
	if *tokPath == "" || len(pos) != 0 || idsSet == (*file != "") {
		return fmt.Errorf("%w: qlora detokenize %s", errUsage, synopsis)
	}
	tok, err := tokenizer.Load(*tokPath)
	if err != nil {
		return err
	}
	source, data := "--ids", []byte(*idList)
	if !idsSet {
		source = *file
		if data, err = readInput(*file); err != nil {
			return err
		}
	}
	ids, err := parseIDs(data)
	if err != nil {
		return fmt.Errorf("%s: %w", source, err)
	}
	for _, id := range ids {
		if _, ok := tok.Token(id); !ok {
			return fmt.Errorf("%s: token id %d is not in the tokenizer (ids run to %d)", source, id, tok.VocabSize()-1)
		}
	}
	text := tok.Decode(ids, *skipSpecial)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false) // keep "<s>" readable
		return enc.Encode(map[string]string{"text": text})
	}
	_, err = io.WriteString(stdout, text)
	return err
}

// flagSet reports whether a flag was given, even as an empty string.
func flagSet(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

func readInput(path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(path)
}

// parseIDs reads {"ids": [...]}, a JSON list, or numbers separated by spaces or commas.
func parseIDs(data []byte) ([]int32, error) {
	trimmed := strings.TrimSpace(string(data))
	var ids []int32
	switch {
	case strings.HasPrefix(trimmed, "{"):
		var doc struct {
			IDs *[]int32 `json:"ids"`
		}
		if err := json.Unmarshal([]byte(trimmed), &doc); err != nil {
			return nil, err
		}
		if doc.IDs == nil {
			return nil, fmt.Errorf(`no "ids" list`)
		}
		return *doc.IDs, nil
	case strings.HasPrefix(trimmed, "["):
		return ids, json.Unmarshal([]byte(trimmed), &ids)
	}
	for _, f := range strings.FieldsFunc(trimmed, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' }) {
		n, err := strconv.ParseInt(f, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%q is not a token id", f)
		}
		ids = append(ids, int32(n))
	}
	return ids, nil
}

func nonNil(ids []int32) []int32 {
	if ids == nil {
		return []int32{}
	}
	return ids
}

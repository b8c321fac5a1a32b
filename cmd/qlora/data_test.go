package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tinyChat is a model folder without weights: config.json and a tiny byte-level tokenizer with a
// ChatML template, all that data inspect reads.
const tinyChat = "../../internal/fixtures/tinychat"

func writeDataset(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const alpacaWithBadRow = `{"instruction": "Say hello.", "input": "", "output": "Hello world!"}
{"instruction": "Add the numbers.", "input": "2, 3"}
{"instruction": "What is the capital of France?", "output": "Paris."}
`

// TestDataInspect_Text ensures the report names the detected format, the statistics, the bad row
// with its line and field, and examples with the trained-on part marked; bad rows exit 1 and say
// how to accept them.
func TestDataInspect_Text(t *testing.T) {
	file := writeDataset(t, "train.jsonl", alpacaWithBadRow)
	stdout, stderr, code := qlora(t, "data", "inspect", file, "--model", tinyChat)
	if code != 1 || !strings.Contains(stderr, "1 bad row; fix them, or pass --skip-bad") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{
		"format         alpaca (detected), jsonl file; columns input, instruction, output",
		"chat template  the model's chat_template",
		"trained on     assistant turns only",
		"rows           3: 2 samples, 1 bad, 0 with nothing to train on within 256 tokens",
		"lengths in tokens, before truncation",
		"bad rows: 1\n  " + file + ":2: output: missing\n",
		"example from line 1:",
		"<|im_start|>assistant\n⟦Hello world!<|im_end|>\n⟧",
		"example from line 3:",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("report lacks %q:\n%s", want, stdout)
		}
	}
}

// TestDataInspect_JSON ensures --json prints the report as JSON, and --skip-bad exits 0.
func TestDataInspect_JSON(t *testing.T) {
	file := writeDataset(t, "train.jsonl", alpacaWithBadRow)
	stdout, stderr, code := qlora(t, "data", "inspect", "--json", "--skip-bad", "--examples", "1", "--max-length", "26", file, "--model", tinyChat)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r struct {
		Format string `json:"format"`
		Stats  struct {
			Rows, Samples, Truncated int
			MaxLength                int `json:"max_length"`
		} `json:"stats"`
		BadRows []struct {
			Line  int    `json:"line"`
			Field string `json:"field"`
		} `json:"bad_rows"`
		Examples []struct {
			Spans []struct {
				Text    string `json:"text"`
				Trained bool   `json:"trained"`
			} `json:"spans"`
		} `json:"examples"`
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if r.Format != "alpaca" || r.Stats.Rows != 3 || r.Stats.Samples != 2 || r.Stats.MaxLength != 26 || r.Stats.Truncated != 2 {
		t.Errorf("report %+v", r)
	}
	if len(r.BadRows) != 1 || r.BadRows[0].Line != 2 || r.BadRows[0].Field != "output" {
		t.Errorf("bad rows %+v", r.BadRows)
	}
	if len(r.Examples) != 1 || len(r.Examples[0].Spans) == 0 || r.Examples[0].Spans[0].Trained {
		t.Errorf("examples %+v", r.Examples)
	}
}

// TestDataInspect_FormatAndColumns ensures --format and --column read a file whose columns have
// other names, and --template picks a built-in template.
func TestDataInspect_FormatAndColumns(t *testing.T) {
	file := writeDataset(t, "qa.csv", "question,answer\nSay hello.,Hello world!\n")
	stdout, stderr, code := qlora(t, "data", "inspect", file, "--model", tinyChat, "--format", "completion",
		"--column", "prompt=question", "--column", "completion=answer")
	if code != 0 || !strings.Contains(stdout, "format         completion (given), csv file") ||
		!strings.Contains(stdout, "<|begin_of_text|>Say hello.⟦Hello world!<|end_of_text|>⟧") {
		t.Errorf("exit %d, stderr %s\n%s", code, stderr, stdout)
	}
	stdout, stderr, code = qlora(t, "data", "inspect", file, "--model", tinyChat, "--template", "alpaca",
		"--column", "instruction=question", "--column", "output=answer")
	if code != 0 || !strings.Contains(stdout, "chat template  built-in alpaca") || !strings.Contains(stdout, "### Response:\n⟦Hello world!<|end_of_text|>⟧") {
		t.Errorf("exit %d, stderr %s\n%s", code, stderr, stdout)
	}
}

// TestDataInspect_Errors ensures misuse exits 2 with the usage, and files or models that cannot be
// read exit 1 naming them.
func TestDataInspect_Errors(t *testing.T) {
	file := writeDataset(t, "train.jsonl", alpacaWithBadRow)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"data"}, 2, "qlora data inspect FILE --model DIR"},
		{[]string{"data", "summarize", file}, 2, "qlora data inspect FILE --model DIR"},
		{[]string{"data", "inspect", file}, 2, "qlora data inspect FILE --model DIR"},
		{[]string{"data", "inspect", file, "--model", tinyChat, "--format", "xml"}, 2, `unknown dataset format "xml"`},
		{[]string{"data", "inspect", file, "--model", tinyChat, "--column", "answer"}, 2, "want field=column"},
		{[]string{"data", "inspect", "/nonexistent/train.jsonl", "--model", tinyChat}, 1, "/nonexistent/train.jsonl"},
		{[]string{"data", "inspect", file, "--model", tinyModel}, 1, "tokenizer.json"},
		{[]string{"data", "inspect", file, "--model", tinyChat, "--template", "nope"}, 1, `no built-in chat template "nope"`},
		{[]string{"data", "inspect", writeDataset(t, "q.jsonl", `{"q": 1}`+"\n"), "--model", tinyChat}, 1, "the columns are q"},
	}
	for _, c := range cases {
		_, stderr, code := qlora(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("qlora %v: exit %d, stderr %q; want exit %d and %q", c.args, code, stderr, c.code, c.want)
		}
	}
}

package axolotl

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/data"
)

// datasetCases are a file of each shape, as users bring them.
var datasetCases = []struct {
	name, file, rows string
	shape            data.Shape // as read here
	typ              any        // axolotl's type written
}{
	{"alpaca with input and system", "a.jsonl",
		`{"instruction": "Add.", "input": "2, 3", "output": "5", "system": "Be brief."}
{"instruction": "Name a colour.", "output": "Blue"}
`, data.ShapeAlpaca, "chat_template"},
	{"alpaca from CSV", "a.csv", "instruction,input,output\n\"Say hi, please\",,Hi\nDouble it.,4,8\n", data.ShapeAlpaca, "chat_template"},
	{"sharegpt with a system column", "s.jsonl",
		`{"system": "S", "conversations": [{"from": "human", "value": "Q1"}, {"from": "gpt", "value": "A1"}, {"from": "human", "value": "Q2"}, {"from": "gpt", "value": "A2"}]}
`, data.ShapeShareGPT, "chat_template"},
	{"messages", "m.json",
		`[{"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "<b>Q</b> & \"quotes\""}, {"role": "assistant", "content": "A\n"}]}]`,
		data.ShapeMessages, "chat_template"},
	{"completion", "c.jsonl",
		`{"prompt": "The capital of France is", "completion": " Paris."}
{"prompt": "", "completion": "Once upon a time."}
`, data.ShapeCompletion, map[string]any{"field_instruction": "prompt", "field_output": "completion",
			"format": "{instruction}", "no_input_format": "{instruction}"}},
	{"text", "t.jsonl", `{"text": "A whole document."}
{"text": "Another one, with unicode: é ☃."}
`, data.ShapeText, "completion"},
	{"tokenized, labels and none", "k.jsonl", `{"input_ids": [1, 5, 9, 2], "labels": [-100, -100, 9, 2]}
{"input_ids": [1, 7, 2]}
`, data.ShapeTokenized, nil},
}

// TestWriteDataset_RoundTripsThroughOurParser ensures the rows written for each shape, read by our
// own parser, give the same examples (conversations, prompts, texts, ids and labels) as the file
// they came from, under the axolotl type that trains on them.
func TestWriteDataset_RoundTripsThroughOurParser(t *testing.T) {
	for _, c := range datasetCases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, c.file)
			os.WriteFile(src, []byte(c.rows), 0o644)
			out := filepath.Join(dir, "train.jsonl")
			w, err := WriteDataset(src, "", out, "data/train.jsonl", false)
			if err != nil {
				t.Fatal(err)
			}
			if w.Shape != c.shape || w.Entry["path"] != "data/train.jsonl" || w.Entry["ds_type"] != "json" ||
				!reflect.DeepEqual(w.Entry["type"], c.typ) {
				t.Errorf("shape %s, entry %v; want shape %s, type %v", w.Shape, w.Entry, c.shape, c.typ)
			}
			_, want := examples(t, src)
			shape, got := examples(t, out)
			if len(got) != w.Rows || !reflect.DeepEqual(got, want) {
				t.Errorf("read back as %s:\n%+v\nwant\n%+v", shape, got, want)
			}
		})
	}
}

// examples reads a file's rows as our parser sees them, lines aside, labels as trained on.
func examples(t *testing.T, path string) (data.Shape, []data.Example) {
	t.Helper()
	table, err := data.ReadFile(path, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	shape, exs, err := data.Examples(table, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range exs {
		exs[i].Line = 0
		if exs[i].IDs != nil && exs[i].Labels == nil {
			exs[i].Labels = exs[i].IDs // no labels: every token is trained on
		}
	}
	return shape, exs
}

// TestWriteDataset_BadRows ensures bad rows fail the handoff unless skipped, and a skip is named.
func TestWriteDataset_BadRows(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(src, []byte(`{"instruction": "A", "output": "B"}
{"instruction": "", "output": "B"}
not json
{"instruction": "C", "output": "D"}
`), 0o644)
	out := filepath.Join(dir, "out.jsonl")
	if _, err := WriteDataset(src, "", out, "x", false); !errors.Is(err, data.ErrBadRecords) {
		t.Fatalf("bad rows not skipped: %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a file was written for a dataset refused")
	}
	w, err := WriteDataset(src, "", out, "x", true)
	if err != nil {
		t.Fatal(err)
	}
	if w.Rows != 2 || len(w.Notes) != 1 || w.Notes[0].Key != "skip_bad_rows" {
		t.Errorf("%d rows, notes %v; want 2 and the 2 bad rows named", w.Rows, w.Notes)
	}
}

// TestReadDatasets_Types ensures each type we write reads back as the shape of its rows, and a
// type we cannot read is named.
func TestReadDatasets_Types(t *testing.T) {
	for _, c := range datasetCases {
		entry := entryFor(c.shape)
		entry["path"] = "data/train.jsonl"
		r := &Read{Layer: map[string]any{}}
		r.readDatasets(map[string]any{"datasets": []any{entry}})
		want := map[data.Shape]string{data.ShapeAlpaca: "messages", data.ShapeShareGPT: "messages"}[c.shape]
		if want == "" {
			want = string(c.shape)
		}
		if r.Layer["dataset_format"] != want || r.Layer["dataset"] != "data/train.jsonl" || len(r.Notes) != 0 {
			t.Errorf("%s: read %v, notes %v; want %s", c.name, r.Layer, r.Notes, want)
		}
	}
	r := &Read{Layer: map[string]any{}}
	r.readDatasets(map[string]any{"datasets": []any{map[string]any{"path": "x", "type": "input_output"}, map[string]any{"path": "y"}}})
	if len(r.Notes) != 2 || r.Layer["dataset_format"] != nil {
		t.Errorf("read %v, notes %v; want both entries named", r.Layer, r.Notes)
	}
}

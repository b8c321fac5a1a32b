package data

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestLoad_EveryShapeAndFile ensures each shape loads from the file types that carry it, nested
// lists included (Parquet lists of structs, CSV cells holding JSON), the shape detected.
func TestLoad_EveryShapeAndFile(t *testing.T) {
	conversation := `[{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]`
	cases := []struct {
		name    string
		file    string
		content []byte
		shape   Shape
		trained string // of the first sample
	}{
		{"alpaca jsonl", "a.jsonl", []byte(`{"instruction": "Hi", "output": "Hello"}` + "\n"), ShapeAlpaca, "Hello<|im_end|>\n"},
		{"alpaca parquet", "a.parquet", parquetBytes(t, alpacaRows), ShapeAlpaca, "Hello!<|im_end|>\n"},
		{"sharegpt json", "s.json", []byte(`[{"conversations": ` + conversation + `}]`), ShapeShareGPT, "Hello<|im_end|>\n"},
		{"sharegpt parquet", "s.parquet", parquetBytes(t, []chatRow{{Conversations: []chatTurn{{"human", "Hi"}, {"gpt", "Hello"}}}}), ShapeShareGPT, "Hello<|im_end|>\n"},
		{"sharegpt csv", "s.csv", []byte("conversations\n\"" + strings.ReplaceAll(conversation, `"`, `""`) + "\"\n"), ShapeShareGPT, "Hello<|im_end|>\n"},
		{"messages jsonl", "m.jsonl", []byte(`{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}` + "\n"), ShapeMessages, "Hello<|im_end|>\n"},
		{"completion tsv", "c.tsv", []byte("prompt\tcompletion\nSay hi:\t hi\n"), ShapeCompletion, " hi<|end_of_text|>"},
		{"text csv", "t.csv", []byte("text\nHello world\n"), ShapeText, "<|begin_of_text|>Hello world<|end_of_text|>"},
		{"tokenized jsonl", "k.jsonl", []byte(`{"input_ids": [72, 105], "labels": [-100, 105]}` + "\n"), ShapeTokenized, "i"},
		{"tokenized csv", "k.csv", []byte("input_ids,labels\n\"[72, 105]\",\"[-100, 105]\"\n"), ShapeTokenized, "i"},
		{"tokenized parquet", "k.parquet", parquetBytes(t, []tokenizedRow{{InputIDs: []int64{72, 105}, Labels: []int64{-100, 105}}}), ShapeTokenized, "i"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ds, err := loadTiny(t, c.file, string(c.content), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if ds.Shape != c.shape || !ds.Detected {
				t.Errorf("shape %q detected %v, want %q", ds.Shape, ds.Detected, c.shape)
			}
			if got := trainedText(ds.Samples[0]); got != c.trained {
				t.Errorf("trained %q, want %q", got, c.trained)
			}
		})
	}
}

// badFile has good rows around one bad row of each kind, parser's and reader's interleaved.
var badFile = lines(
	`{"instruction": "Hi", "output": "Hello"}`,
	`{"instruction": "Hi", "output": "Hello",}`,
	`{"instruction": "Hi"}`,
	`{"instruction": "Hi", "output": "Hello"}`,
	"{\"instruction\": \"H\xe9\", \"output\": \"Hello\"}",
	`{"instruction": "", "output": "Hello"}`,
	`[1, 2]`,
	`{"instruction": "Hi", "output": "Hello"}`,
)

// TestLoad_BadRows ensures bad rows fail the load by default with every one listed in line order,
// the good rows still tokenized for a report; and SkipBad accepts the good ones.
func TestLoad_BadRows(t *testing.T) {
	ds, err := loadTiny(t, "bad.jsonl", badFile, Options{})
	var bad *BadRecordsError
	if !errors.As(err, &bad) || !errors.Is(err, ErrBadRecords) {
		t.Fatalf("error %v", err)
	}
	var got []string
	for _, e := range bad.Listed {
		got = append(got, strings.TrimPrefix(e.Error(), e.File))
	}
	want := []string{
		":2: invalid JSON at column 41: invalid character '}' looking for beginning of object key string",
		":3: output: missing",
		":5: not UTF-8: byte 0xE9 at column 19; save the file as UTF-8",
		":6: instruction: empty",
		":7: a JSON object was expected, found an array",
	}
	if !reflect.DeepEqual(got, want) || bad.Count != 5 {
		t.Errorf("bad rows (%d)\n%s\nwant\n%s", bad.Count, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if ds == nil || len(ds.Samples) != 3 || ds.Stats.Rows != 8 || ds.Stats.BadRows != 5 {
		t.Fatalf("dataset %+v", ds)
	}
	if !strings.Contains(err.Error(), "bad.jsonl: 5 bad rows\n  ") || !strings.Contains(err.Error(), "accept skipping them") {
		t.Errorf("message:\n%v", err)
	}
	ds, err = loadTiny(t, "bad.jsonl", badFile, Options{SkipBad: true, MaxListed: 2})
	if err != nil || len(ds.Samples) != 3 || len(ds.Bad) != 2 || ds.BadCount != 5 {
		t.Errorf("skipping: %v, %d samples, %d listed of %d", err, len(ds.Samples), len(ds.Bad), ds.BadCount)
	}
}

// TestLoad_ParquetNotUTF8 ensures a Parquet string that is not UTF-8 is a bad row with its row
// number, as a bad line of a text file is.
func TestLoad_ParquetNotUTF8(t *testing.T) {
	file := parquetBytes(t, []textRow{{"fine"}, {"caf\xe9"}, {"fine too"}})
	_, err := loadTiny(t, "t.parquet", string(file), Options{})
	var bad *BadRecordsError
	if !errors.As(err, &bad) || bad.Count != 1 || bad.Listed[0].Line != 2 || bad.Listed[0].Field != "text" || bad.Listed[0].Reason != "not UTF-8" {
		t.Errorf("error %v", err)
	}
}

// TestLoad_Truncates ensures samples are cut to the max length, counted, and a sample left with
// nothing to train on is dropped and counted rather than kept.
func TestLoad_Truncates(t *testing.T) {
	long := `{"instruction": "` + strings.Repeat("Hello world. ", 20) + `", "output": "Hello"}`
	short := `{"instruction": "Hi", "output": "Hello"}`
	ds, err := loadTiny(t, "long.jsonl", lines(short, long, `{"text": "x"}`), Options{MaxLength: 24, Shape: ShapeAlpaca, SkipBad: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Samples) != 1 || ds.Stats.NoTargets != 1 || ds.BadCount != 1 {
		t.Fatalf("%d samples, %d without targets, %d bad", len(ds.Samples), ds.Stats.NoTargets, ds.BadCount)
	}
	ds, err = loadTiny(t, "text.jsonl", lines(`{"text": "`+strings.Repeat("Hello world. ", 20)+`"}`, `{"text": "Hi"}`), Options{MaxLength: 24})
	if err != nil {
		t.Fatal(err)
	}
	s := ds.Samples[0]
	if len(s.IDs) != 24 || s.Length <= 24 || ds.Stats.Truncated != 1 || ds.Stats.TruncatedShare != 0.5 {
		t.Errorf("sample of %d tokens (of %d), %d truncated", len(s.IDs), s.Length, ds.Stats.Truncated)
	}
}

// TestLoad_FileErrors ensures a file that cannot be used at all fails with its name: unknown
// shape, no rows, a chat shape without a template.
func TestLoad_FileErrors(t *testing.T) {
	if _, err := loadTiny(t, "q.jsonl", lines(`{"q": "a"}`), Options{}); !errors.Is(err, ErrUnknownShape) || !strings.Contains(err.Error(), "q.jsonl") {
		t.Errorf("unknown shape: %v", err)
	}
	if _, err := loadTiny(t, "e.jsonl", "\n\n", Options{Shape: ShapeText}); !errors.Is(err, ErrNoSamples) {
		t.Errorf("empty file: %v", err)
	}
	path := writeFile(t, "m.jsonl", lines(`{"instruction": "a", "output": "b"}`))
	if _, err := Load(path, tiny, Options{MaxLength: 8}); err == nil || !strings.Contains(err.Error(), "the alpaca format is rendered with a chat template, and the model has none: choose a built-in one (alpaca, chatml, llama2, llama3, mistral) or a .jinja file") {
		t.Errorf("no template: %v", err)
	}
}

// TestLoadSets ensures the validation set comes from a second file when given, else from a seeded
// split of the first.
func TestLoadSets(t *testing.T) {
	dir := t.TempDir()
	train, val := filepath.Join(dir, "train.jsonl"), filepath.Join(dir, "val.jsonl")
	var rows []string
	for range 10 {
		rows = append(rows, `{"text": "Hello world"}`)
	}
	os.WriteFile(train, []byte(lines(rows...)), 0o644)
	os.WriteFile(val, []byte(lines(rows[:3]...)), 0o644)
	opts := Options{MaxLength: 32}
	sets, err := LoadSets(train, val, 0.5, 1, tiny, opts)
	if err != nil || len(sets.TrainSamples) != 10 || len(sets.ValSamples) != 3 || sets.Val == nil {
		t.Fatalf("with a file: %v %+v", err, sets)
	}
	sets, err = LoadSets(train, "", 0.2, 1, tiny, opts)
	if err != nil || len(sets.TrainSamples) != 8 || len(sets.ValSamples) != 2 || sets.Val != nil {
		t.Fatalf("split: %v %+v", err, sets)
	}
	if _, err = LoadSets(train, "", 10, 1, tiny, opts); err == nil || !strings.Contains(err.Error(), "train.jsonl") {
		t.Errorf("all split off: %v", err)
	}
}

package storage

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/data"
)

// TestLibrary_AddDataset ensures an imported dataset is copied in with its hash, its shape detected
// and its rows counted.
func TestLibrary_AddDataset(t *testing.T) {
	l := openTemp(t, nil)
	src := capitals(t, 40)
	d, err := l.AddDataset(src, DatasetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "capitals" || d.Shape != "alpaca" || d.ShapeGiven || d.Format != "jsonl" || d.Rows != 40 || d.BadRows != 0 || len(d.Stats) != 0 {
		t.Errorf("%+v", d)
	}
	if !strings.HasPrefix(d.Path, filepath.Join(l.Dir(), DatasetsDir)) || d.File.SHA256 != sha256File(t, src) || sha256File(t, d.Path) != d.File.SHA256 {
		t.Errorf("copy %s, %+v", d.Path, d.File)
	}
	_, err = l.AddDataset(src, DatasetOptions{})
	wantErr(t, err, ErrExists)
	if left := entries(filepath.Join(l.Dir(), DatasetsDir)); len(left) != 1 {
		t.Errorf("datasets folder holds %v", left)
	}
}

// TestLibrary_AddDataset_Measured ensures a dataset measured with a library model's tokenizer
// records its token statistics, and that measuring again with other options adds a second entry.
func TestLibrary_AddDataset_Measured(t *testing.T) {
	l := openTemp(t, nil)
	l.AddModel(chatModel(t), ModelOptions{Name: "tiny"})
	d, err := l.AddDataset(capitals(t, 16), DatasetOptions{Name: "caps", Shape: "alpaca", Measure: &Measure{Model: "tiny", MaxLength: 64}})
	if err != nil {
		t.Fatal(err)
	}
	if !d.ShapeGiven || len(d.Stats) != 1 {
		t.Fatalf("%+v", d)
	}
	s := d.Stats[0]
	if s.Model != "tiny" || s.MaxLength != 64 || s.Samples != 16 || s.Tokens == 0 || s.Lengths.Max == 0 || s.Template == "" {
		t.Errorf("%+v", s)
	}
	if _, err := l.MeasureDataset("caps", Measure{Model: "tiny", MaxLength: 64}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.MeasureDataset("caps", Measure{Model: "tiny", MaxLength: 40}); err != nil {
		t.Fatal(err)
	}
	d, _ = l.Dataset("caps")
	if len(d.Stats) != 2 || d.Stats[1].MaxLength != 40 {
		t.Errorf("stats %+v", d.Stats)
	}
	_, err = l.MeasureDataset("caps", Measure{Model: "no-such-model"})
	wantErr(t, err, ErrNotFound)
}

// TestLibrary_AddDataset_BadRows ensures bad rows refuse an import with their file and line named,
// leaving nothing behind, and that SkipBad records them counted.
func TestLibrary_AddDataset_BadRows(t *testing.T) {
	l := openTemp(t, nil)
	src := filepath.Join(t.TempDir(), "mixed.jsonl")
	os.WriteFile(src, []byte(`{"text": "one"}
{"text": "two"
{"text": "three"}
`), 0o644)
	_, err := l.AddDataset(src, DatasetOptions{})
	if !errors.Is(err, data.ErrBadRecords) || !strings.Contains(err.Error(), "mixed.jsonl:2") {
		t.Fatalf("error %v", err)
	}
	if ds, _ := l.Datasets(); len(ds) != 0 || len(entries(filepath.Join(l.Dir(), DatasetsDir))) != 0 {
		t.Fatalf("left %v", ds)
	}
	d, err := l.AddDataset(src, DatasetOptions{SkipBad: true})
	if err != nil || d.Rows != 3 || d.BadRows != 1 || d.Shape != "text" {
		t.Errorf("%+v %v", d, err)
	}
	empty := filepath.Join(t.TempDir(), "empty.jsonl")
	os.WriteFile(empty, nil, 0o644)
	_, err = l.AddDataset(empty, DatasetOptions{})
	if err == nil || !strings.Contains(err.Error(), "empty.jsonl") {
		t.Errorf("empty file: %v", err)
	}
	unknown := filepath.Join(t.TempDir(), "odd.jsonl")
	os.WriteFile(unknown, []byte(`{"question": "q", "answer": "a"}`+"\n"), 0o644)
	_, err = l.AddDataset(unknown, DatasetOptions{})
	if !errors.Is(err, data.ErrUnknownShape) || !strings.Contains(err.Error(), "odd.jsonl") {
		t.Errorf("unknown shape: %v", err)
	}
}

// TestLibrary_RemoveDataset ensures a dataset in use is refused unless forced, and that removing it
// deletes its copy but not the file it came from.
func TestLibrary_RemoveDataset(t *testing.T) {
	l := openTemp(t, nil)
	src := capitals(t, 8)
	d, _ := l.AddDataset(src, DatasetOptions{})
	l.RecordRun(NewRun{Dir: runFolder(t, t.TempDir(), "r"), Dataset: "capitals"})
	wantErr(t, l.RemoveDataset("capitals", false), ErrInUse)
	if err := l.RemoveDataset("capitals", true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d.Path); !os.IsNotExist(err) {
		t.Errorf("copy still there: %v", err)
	}
	if _, err := os.Stat(src); err != nil {
		t.Errorf("source touched: %v", err)
	}
}

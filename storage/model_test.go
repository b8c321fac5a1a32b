package storage

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qlora-studio/qlora-studio/trainer/export"
	"github.com/qlora-studio/qlora-studio/trainer/model"
)

// TestLibrary_AddModel_Reference ensures a model imported by reference is measured, its files
// hashed where they are, and nothing copied.
func TestLibrary_AddModel_Reference(t *testing.T) {
	l := openTemp(t, nil)
	src := chatModel(t)
	m, err := l.AddModel(src, ModelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "tiny-chat" || m.Path != src || m.Copied || m.Architecture != "llama" || m.Layers != 2 ||
		m.Parameters == 0 || m.TokenizerVocab != 356 || !m.ChatTemplate || m.Quantization != "" {
		t.Errorf("%+v", m)
	}
	names := fileNames(m.Files)
	want := []string{"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}
	if !slices.Equal(names, want) {
		t.Errorf("files %v, want %v", names, want)
	}
	for _, f := range m.Files {
		if f.SHA256 != sha256File(t, filepath.Join(src, f.Name)) {
			t.Errorf("%s: sha256 %s", f.Name, f.SHA256)
		}
	}
	if got := entries(filepath.Join(l.Dir(), ModelsDir)); len(got) != 0 {
		t.Errorf("models folder holds %v", got)
	}
	again, err := l.Model("tiny-chat")
	if err != nil || again.Path != src || again.Bytes() != m.Bytes() {
		t.Errorf("%+v %v", again, err)
	}
}

// TestLibrary_AddModel_Copy ensures a copied model lives in the library with the same bytes, and
// that the copy is what training reads.
func TestLibrary_AddModel_Copy(t *testing.T) {
	l := openTemp(t, nil)
	src := chatModel(t)
	m, err := l.AddModel(src, ModelOptions{Name: "copy", Copy: true})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Copied || !strings.HasPrefix(m.Path, filepath.Join(l.Dir(), ModelsDir)) || m.Source != src {
		t.Fatalf("%+v", m)
	}
	for _, f := range m.Files {
		if f.SHA256 != sha256File(t, filepath.Join(src, f.Name)) || f.SHA256 != sha256File(t, filepath.Join(m.Path, f.Name)) {
			t.Errorf("%s differs", f.Name)
		}
	}
	if _, err := model.Inspect(m.Path); err != nil {
		t.Error(err)
	}
}

// TestLibrary_AddModel_Duplicate ensures a second model of the same name is refused before any
// work, leaving no folder behind.
func TestLibrary_AddModel_Duplicate(t *testing.T) {
	l := openTemp(t, nil)
	src := chatModel(t)
	if _, err := l.AddModel(src, ModelOptions{Name: "m", Copy: true}); err != nil {
		t.Fatal(err)
	}
	_, err := l.AddModel(src, ModelOptions{Name: "m", Copy: true})
	wantErr(t, err, ErrExists)
	if got := entries(filepath.Join(l.Dir(), ModelsDir)); len(got) != 1 {
		t.Errorf("models folder holds %v", got)
	}
	_, err = l.AddModel(src, ModelOptions{Name: "a/b"})
	wantErr(t, err, ErrInvalidName)
}

// TestLibrary_AddModel_Invalid ensures a broken model is refused with an error naming the file,
// and that nothing of it is recorded or left in the library.
func TestLibrary_AddModel_Invalid(t *testing.T) {
	cases := []struct {
		name  string
		spoil func(dir string)
		want  string
	}{
		{"no config", func(dir string) { os.Remove(filepath.Join(dir, "config.json")) }, "config.json"},
		{"bad config", func(dir string) {
			os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type": "llama", "hidden_act": "gelu"}`), 0o644)
		}, "config.json"},
		{"truncated weights", func(dir string) {
			p := filepath.Join(dir, "model.safetensors")
			st, _ := os.Stat(p)
			os.Truncate(p, st.Size()-100)
		}, "model.safetensors"},
		{"no tokenizer", func(dir string) { os.Remove(filepath.Join(dir, "tokenizer.json")) }, "tokenizer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := openTemp(t, nil)
			src := chatModel(t)
			c.spoil(src)
			_, err := l.AddModel(src, ModelOptions{Copy: true})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one naming %s", err, c.want)
			}
			if ms, _ := l.Models(); len(ms) != 0 {
				t.Errorf("recorded %v", ms)
			}
			if got := entries(filepath.Join(l.Dir(), ModelsDir)); len(got) != 0 {
				t.Errorf("left %v", got)
			}
		})
	}
}

// TestLibrary_AddModel_PreQuantized ensures a bitsandbytes NF4 checkpoint is accepted as it is and
// needs no NF4 base of the library's.
func TestLibrary_AddModel_PreQuantized(t *testing.T) {
	l := openTemp(t, nil)
	q := filepath.Join(t.TempDir(), "nf4")
	if err := export.WriteBnB4bit(chatModel(t), q, export.BnB4bitOptions{Blocksize: 64, DoubleQuant: true}); err != nil {
		t.Fatal(err)
	}
	m, err := l.AddModel(q, ModelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Quantization != "bitsandbytes nf4, blocksize 64, double quant" {
		t.Errorf("quantization %q", m.Quantization)
	}
	_, _, err = l.NF4("nf4", NF4Options{Blocksize: 64, DoubleQuant: true})
	wantErr(t, err, ErrPreQuantized)
}

// TestLibrary_NF4 ensures the NF4 base is built once per block size and double quantization,
// recorded, reused, loadable as a pre-quantized model, and refused once the model's files change.
func TestLibrary_NF4(t *testing.T) {
	l := openTemp(t, nil)
	src := chatModel(t)
	if _, err := l.AddModel(src, ModelOptions{Name: "m"}); err != nil {
		t.Fatal(err)
	}
	opt := NF4Options{Blocksize: 64, DoubleQuant: true}
	path, built, err := l.NF4("m", opt)
	if err != nil || !built {
		t.Fatalf("%s %v %v", path, built, err)
	}
	s, err := model.Inspect(path)
	if err != nil || s.Quantization != "bitsandbytes nf4, blocksize 64, double quant" {
		t.Fatalf("%+v %v", s, err)
	}
	again, built, err := l.NF4("m", opt)
	if err != nil || built || again != path {
		t.Errorf("second call: %s %v %v", again, built, err)
	}
	other, built, err := l.NF4("m", NF4Options{Blocksize: 128})
	if err != nil || !built || other == path {
		t.Errorf("blocksize 128: %s %v %v", other, built, err)
	}
	m, _ := l.Model("m")
	if len(m.NF4) != 2 || m.NF4[0].Bytes == 0 {
		t.Errorf("caches %+v", m.NF4)
	}
	if left := entries(filepath.Dir(path)); len(left) != 2 {
		t.Errorf("model folder holds %v", left) // two bases, no staging folder
	}
	future := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(src, "model.safetensors"), future, future)
	_, _, err = l.NF4("m", opt)
	if !errors.Is(err, ErrChanged) || !strings.Contains(err.Error(), "model.safetensors") {
		t.Errorf("after a change: %v", err)
	}
}

// TestLibrary_RemoveModel ensures a model that runs used is refused with their names unless
// forced, and that removing it deletes its copy and caches but never a referenced folder.
func TestLibrary_RemoveModel(t *testing.T) {
	l := openTemp(t, nil)
	src := chatModel(t)
	l.AddModel(src, ModelOptions{Name: "ref"})
	cp, _ := l.AddModel(src, ModelOptions{Name: "cp", Copy: true})
	if _, _, err := l.NF4("ref", NF4Options{Blocksize: 64}); err != nil {
		t.Fatal(err)
	}
	l.RecordRun(NewRun{Dir: runFolder(t, t.TempDir(), "r1"), Model: "ref"})
	err := l.RemoveModel("ref", false)
	var inUse *InUseError
	if !errors.As(err, &inUse) || !errors.Is(err, ErrInUse) || !slices.Equal(inUse.Runs, []string{"r1"}) || !strings.Contains(err.Error(), "r1") {
		t.Fatalf("error %v", err)
	}
	if err := l.RemoveModel("ref", true); err != nil {
		t.Fatal(err)
	}
	if err := l.RemoveModel("cp", false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(src, "model.safetensors")); err != nil {
		t.Errorf("the referenced folder was touched: %v", err)
	}
	if _, err := os.Stat(cp.Path); !os.IsNotExist(err) {
		t.Errorf("the copy is still there: %v", err)
	}
	if left := entries(filepath.Join(l.Dir(), ModelsDir)); len(left) != 0 {
		t.Errorf("models folder holds %v", left)
	}
	wantErr(t, l.RemoveModel("ref", false), ErrNotFound)
	if r, _ := l.FindRun("r1"); r.Model != "ref" {
		t.Errorf("the run forgot its model: %+v", r)
	}
}

// TestLibrary_ModelByPath ensures a run given a model's folder is linked to the model.
func TestLibrary_ModelByPath(t *testing.T) {
	l := openTemp(t, nil)
	src := chatModel(t)
	l.AddModel(src, ModelOptions{Name: "m"})
	if m, err := l.ModelByPath(src + "/"); err != nil || m.Name != "m" {
		t.Errorf("%+v %v", m, err)
	}
	_, err := l.ModelByPath(t.TempDir())
	wantErr(t, err, ErrNotFound)
}

func fileNames(files []File) []string {
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	return names
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

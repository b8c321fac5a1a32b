package ui_test

import (
	"path/filepath"
	"testing"

	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/ui"
)

// TestModels_ImportListDetailsDelete ensures the models screen, against a real library, imports a
// model folder, lists it with architecture, parameters, size and 4-bit or not, shows its details,
// passes on the library's refusal to delete a model that a run uses, naming the run, and deletes
// it once no run does.
func TestModels_ImportListDetailsDelete(t *testing.T) {
	w := newWindow(t)
	lib := newLibrary(t)
	s := ui.NewModels(lib, ui.Inline{}, w)
	w.SetContent(s.Content())
	if !shows(w.Content(), "No models yet") {
		t.Errorf("an empty library shows %q", texts(w.Content()))
	}
	tapButton(t, w.Content(), "Import model folder…") // the folder dialog, which ends in Import
	if !shows(overlay(t, w), "Open") {
		t.Errorf("the import button shows %q, want a folder dialog", texts(overlay(t, w)))
	}
	tapButton(t, overlay(t, w), "Cancel")

	s.Import(tinyModel(t))
	m, err := lib.Model("tiny")
	if err != nil {
		t.Fatalf("not imported: %v", err)
	}
	row := "llama · " + ui.Params(m.Parameters) + " parameters · " + ui.Bytes(m.Bytes()) + " · 16-bit"
	for _, want := range []string{"tiny", row, "Architecture", "Layers", "Context", "used in place: " + m.Source} {
		if !shows(w.Content(), want) {
			t.Errorf("the screen does not show %q: %q", want, texts(w.Content()))
		}
	}

	r, err := lib.RecordRun(storage.NewRun{Name: "first-try", Dir: filepath.Join(t.TempDir(), "run"), Model: "tiny",
		BaseModel: m.Path, Data: "capitals.jsonl"})
	if err != nil {
		t.Fatal(err)
	}
	tapButton(t, w.Content(), "Delete")
	tapButton(t, overlay(t, w), "Delete")
	refusal := overlay(t, w)
	if !shows(refusal, `The model "tiny" is used by 1 run: first-try.`) {
		t.Fatalf("refusal says %q", texts(refusal))
	}
	if _, err := lib.Model("tiny"); err != nil {
		t.Fatalf("deleted although a run uses it: %v", err)
	}
	tapButton(t, refusal, "OK")

	if err := lib.RemoveRun(r.ID, false); err != nil {
		t.Fatal(err)
	}
	tapButton(t, w.Content(), "Delete")
	tapButton(t, overlay(t, w), "Delete")
	if models, _ := lib.Models(); len(models) != 0 {
		t.Fatalf("still in the library: %+v", models)
	}
	if !shows(w.Content(), "No models yet") || shows(w.Content(), row) {
		t.Errorf("after the delete the screen shows %q", texts(w.Content()))
	}
}

// TestModels_ImportRefused ensures a folder that is not a model is refused with the library's
// reason, and nothing is listed.
func TestModels_ImportRefused(t *testing.T) {
	w := newWindow(t)
	lib := newLibrary(t)
	s := ui.NewModels(lib, ui.Inline{}, w)
	w.SetContent(s.Content())
	s.Import(t.TempDir())
	if !shows(overlay(t, w), "config.json") {
		t.Errorf("the error says %q, want the missing config.json named", texts(overlay(t, w)))
	}
	if models, _ := lib.Models(); len(models) != 0 {
		t.Errorf("recorded %+v", models)
	}
}

package ui_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/qlora-studio/qlora-studio/internal/fixtures"
	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/ui"
)

// newWindow is a test window of a desktop's size in the app's theme; set its content once the
// screen is built.
func newWindow(t *testing.T) fyne.Window {
	t.Helper()
	test.NewTempApp(t)
	test.ApplyTheme(t, ui.NewTheme(ui.ThemeLight))
	w := test.NewTempWindow(t, container.NewStack())
	w.Resize(fyne.NewSize(1280, 860))
	return w
}

// newLibrary is a real library in a temp folder, held open as the app holds it.
func newLibrary(t *testing.T) *storage.Library {
	t.Helper()
	lib, err := storage.Open(filepath.Join(t.TempDir(), "library"), &storage.Options{KeepOpen: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lib.Close() })
	return lib
}

// tinyModel writes the tiny chat model (a complete Llama with a ChatML tokenizer) into a folder
// named tiny, and returns the folder.
func tinyModel(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tiny")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := fixtures.ChatModel(dir, 5); err != nil {
		t.Fatal(err)
	}
	return dir
}

// texts are the texts of every visible label, button, text and rich text under o, as rendered.
func texts(o fyne.CanvasObject) []string {
	var out []string
	var walk func(fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		if o == nil || !o.Visible() {
			return
		}
		switch v := o.(type) { // the text widgets, whose own renderers hold their text again
		case *widget.Label:
			out = append(out, v.Text)
			return
		case *widget.Button:
			out = append(out, v.Text)
			return
		case *widget.RichText:
			out = append(out, v.String())
			return
		case *canvas.Text:
			out = append(out, v.Text)
		}
		switch v := o.(type) {
		case *fyne.Container:
			for _, c := range v.Objects {
				walk(c)
			}
		case fyne.Widget:
			for _, c := range test.WidgetRenderer(v).Objects() {
				walk(c)
			}
		}
	}
	walk(o)
	return out
}

// shows says whether some text under o contains want.
func shows(o fyne.CanvasObject, want string) bool {
	for _, s := range texts(o) {
		if strings.Contains(s, want) {
			return true
		}
	}
	return false
}

// overlay is the dialog on top of the window; the test fails when there is none.
func overlay(t *testing.T, w fyne.Window) fyne.CanvasObject {
	t.Helper()
	top := w.Canvas().Overlays().Top()
	if top == nil {
		t.Fatal("no dialog is shown")
	}
	return top
}

// findButton is the visible button labelled label under o, or nil.
func findButton(o fyne.CanvasObject, label string) *widget.Button {
	var found *widget.Button
	var walk func(fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		if o == nil || !o.Visible() || found != nil {
			return
		}
		switch v := o.(type) {
		case *widget.Button:
			if v.Text == label {
				found = v
				return
			}
		}
		switch v := o.(type) {
		case *fyne.Container:
			for _, c := range v.Objects {
				walk(c)
			}
		case fyne.Widget:
			for _, c := range test.WidgetRenderer(v).Objects() {
				walk(c)
			}
		}
	}
	walk(o)
	return found
}

// tapButton taps the visible button labelled label under o.
func tapButton(t *testing.T, o fyne.CanvasObject, label string) {
	t.Helper()
	found := findButton(o, label)
	if found == nil {
		t.Fatalf("no button %q among %q", label, texts(o))
	}
	if found.Disabled() {
		t.Fatalf("the button %q is disabled", label)
	}
	test.Tap(found)
}

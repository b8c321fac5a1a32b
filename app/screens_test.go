package app

import (
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"

	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/ui"
)

// screenWait is how long a test drains a screen's queue for a real engine child before giving up.
const screenWait = 2 * time.Minute

// testWindow is a test window in the app's theme, for a screen under test.
func testWindow(t *testing.T) fyne.Window {
	t.Helper()
	test.NewTempApp(t)
	test.ApplyTheme(t, ui.NewTheme(ui.ThemeLight))
	w := test.NewTempWindow(t, container.NewStack())
	w.Resize(fyne.NewSize(1280, 860))
	return w
}

// demoDone is a library folder in which `qlora demo` (reduced) has imported the demo model and
// dataset and fine-tuned them: a finished run whose adapter answers the capitals exactly. The
// library is opened as the app opens it, held.
func demoDone(t *testing.T) *storage.Library {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "library")
	if out, err := exec.Command(engineBin, "demo", "--library", dir, "--quick", "--heldout", "1", "--show", "0").CombinedOutput(); err != nil {
		t.Fatalf("qlora demo: %v\n%s", err, out)
	}
	lib, err := storage.Open(dir, &storage.Options{KeepOpen: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lib.Close() })
	return lib
}

// onlyRun is the library's one run.
func onlyRun(t *testing.T, lib *storage.Library) storage.Run {
	t.Helper()
	runs, err := lib.Runs()
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs %+v (%v), want one", runs, err)
	}
	return runs[0]
}

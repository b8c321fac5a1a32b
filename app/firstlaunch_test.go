package app

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/ui"
)

// emptyLibrary is a new library, held open as the app holds it.
func emptyLibrary(t *testing.T) *storage.Library {
	t.Helper()
	lib, err := storage.Open(filepath.Join(t.TempDir(), "library"), &storage.Options{KeepOpen: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lib.Close() })
	return lib
}

// TestFirstLaunch_RunsTheDemo ensures an empty library is offered the demo, and that running it
// from the offer's dialog runs the real `qlora demo` on the library the app holds (lent to it),
// shows its output, and leaves the demo model, dataset and finished run in the library, held again,
// and no further offer.
func TestFirstLaunch_RunsTheDemo(t *testing.T) {
	lib := emptyLibrary(t)
	d := Demo{DemoLibrary: lib, Engine: Engine{Path: engineBin}}
	if ok, err := d.ShouldOffer(); !ok || err != nil {
		t.Fatalf("an empty library is not offered the demo: %v", err)
	}
	q := ui.NewQueued()
	var ended error = errors.New("not yet")
	offer := ui.NewDemoOffer(d, q, testWindow(t), func(err error) { ended = err })
	offer.Accept()
	if !q.Drain(5*time.Minute, func() bool { return !offer.Running() }) || ended != nil {
		t.Fatalf("the demo ended with %v: %s\n%s", ended, offer.Status(), offer.Output())
	}
	for _, want := range []string{"demo model demo-base: imported", "finished at step 60", "held-out exact match", "after"} {
		if !strings.Contains(offer.Output(), want) {
			t.Errorf("the demo's output lacks %q:\n%s", want, offer.Output())
		}
	}
	if _, err := lib.Model("demo-base"); err != nil {
		t.Error(err)
	}
	if _, err := lib.Dataset("demo-capitals"); err != nil {
		t.Error(err)
	}
	if r := onlyRun(t, lib); r.Status != storage.StatusFinished || r.Model != "demo-base" || len(r.Checkpoints) == 0 {
		t.Errorf("the demo run: %+v", r)
	}
	if ok, _ := d.ShouldOffer(); ok {
		t.Error("the demo is offered again")
	}
	if _, err := storage.Open(lib.Dir(), &storage.Options{Timeout: 50 * time.Millisecond}); !errors.Is(err, storage.ErrBusy) {
		t.Errorf("after the demo another process opens the library (%v): the app no longer holds it", err)
	}
}

// TestFirstLaunch_NoThanksIsRemembered ensures "No thanks" keeps the demo from being offered again,
// and that a library with a model is not offered it.
func TestFirstLaunch_NoThanksIsRemembered(t *testing.T) {
	lib := emptyLibrary(t)
	d := Demo{DemoLibrary: lib}
	if err := d.DeclineDemo(); err != nil {
		t.Fatal(err)
	}
	if ok, err := d.ShouldOffer(); ok || err != nil {
		t.Errorf("offered after No thanks (%v)", err)
	}
	if ok, _ := (Demo{DemoLibrary: demoLibrary(t)}).ShouldOffer(); ok {
		t.Error("a library with a model is offered the demo")
	}
}

package ui_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/qlora-studio/qlora-studio/ui"
)

// fakeCluster records what the dialogs ask of it.
type fakeCluster struct {
	handoffs []ui.HandoffRequest
	imports  []ui.ImportRequest
	fail     error
}

func (f *fakeCluster) RunNames() ([]string, error)   { return []string{"capitals", "guanaco"}, nil }
func (f *fakeCluster) ModelNames() ([]string, error) { return []string{"tiny"}, nil }

func (f *fakeCluster) HandOff(r ui.HandoffRequest) (string, error) {
	f.handoffs = append(f.handoffs, r)
	return "wrote " + r.Out, f.fail
}

func (f *fakeCluster) ImportRun(r ui.ImportRequest) (string, error) {
	f.imports = append(f.imports, r)
	return "imported run qlora-out (#3)", f.fail
}

// TestHandoffDialog_Submit ensures the dialog lists the library's runs, hands the chosen one off
// with its folder and base model, shows what was written, and shows a failure as an error.
func TestHandoffDialog_Submit(t *testing.T) {
	w := newWindow(t)
	c := &fakeCluster{}
	d := ui.ShowHandoff(c, ui.Inline{}, w)
	if !shows(overlay(t, w), "Run on a cluster") || len(d.Run.Options) != 2 {
		t.Fatalf("dialog %q, runs %v", texts(overlay(t, w)), d.Run.Options)
	}
	d.Submit()
	if len(c.handoffs) != 0 || !shows(overlay(t, w), "a run and a new folder") {
		t.Errorf("an empty form was handed off: %v", c.handoffs)
	}
	d.Run.SetSelected("capitals")
	d.Out.SetText("/tmp/cluster")
	d.BaseModel.SetText("meta-llama/Llama-3.1-8B")
	d.Submit()
	want := ui.HandoffRequest{Run: "capitals", Out: "/tmp/cluster", BaseModel: "meta-llama/Llama-3.1-8B"}
	if len(c.handoffs) != 1 || !reflect.DeepEqual(c.handoffs[0], want) || !shows(overlay(t, w), "wrote /tmp/cluster") {
		t.Errorf("handed off %v, showing %q", c.handoffs, texts(overlay(t, w)))
	}
	c.fail = errors.New("the data has 2 bad rows")
	d.Submit()
	if !shows(overlay(t, w), "2 bad rows") {
		t.Errorf("the failure is not shown: %q", texts(overlay(t, w)))
	}
}

// TestHandoffDialog_Config ensures the dialog for a configuration not yet run (the new-run
// form's) hands off that run.yaml under its name, with no run to choose.
func TestHandoffDialog_Config(t *testing.T) {
	w := newWindow(t)
	c := &fakeCluster{}
	yaml := []byte("base_model: /models/tiny\n")
	d := ui.ShowHandoffConfig(c, "tiny-capitals", yaml, ui.Inline{}, w)
	if d.Run.Selected != "tiny-capitals" || !d.Run.Disabled() {
		t.Errorf("the run shown is %q (disabled %v)", d.Run.Selected, d.Run.Disabled())
	}
	d.Out.SetText("/tmp/cluster")
	d.Submit()
	want := ui.HandoffRequest{Run: "tiny-capitals", Config: yaml, Out: "/tmp/cluster"}
	if len(c.handoffs) != 1 || !reflect.DeepEqual(c.handoffs[0], want) {
		t.Errorf("handed off %+v, want %+v", c.handoffs, want)
	}
}

// TestImportDialog_Submit ensures the dialog imports the adapter folder with its YAML, with the
// files' own base model unless a library model is chosen.
func TestImportDialog_Submit(t *testing.T) {
	w := newWindow(t)
	c := &fakeCluster{}
	d := ui.ShowImport(c, ui.Inline{}, w)
	d.Adapter.SetText("/data/outputs/qlora-out")
	d.Submit()
	d.Config.SetText("/data/axolotl.yaml")
	d.Model.SetSelected("tiny")
	d.Submit()
	want := []ui.ImportRequest{{Adapter: "/data/outputs/qlora-out"}, {Adapter: "/data/outputs/qlora-out", Config: "/data/axolotl.yaml", Model: "tiny"}}
	if len(c.imports) != 2 || c.imports[0] != want[0] || c.imports[1] != want[1] {
		t.Errorf("imported %v, want %v", c.imports, want)
	}
	if !shows(overlay(t, w), "imported run qlora-out") {
		t.Errorf("the result is not shown: %q", texts(overlay(t, w)))
	}
}

package app

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"

	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/trainer/plan"
	"github.com/qlora-studio/qlora-studio/trainer/run"
	"github.com/qlora-studio/qlora-studio/ui"
)

// trainWindow is the app's window on a library holding the tiny model and the capitals dataset,
// runs started with engine, and the new-run form filled from the demo preset for them.
func trainWindow(t *testing.T, engine Engine) (*ui.Main, *storage.Library, *Supervisor) {
	t.Helper()
	test.NewTempApp(t)
	w := test.NewTempWindow(t, container.NewStack())
	w.Resize(fyne.NewSize(1280, 860))
	lib := demoLibrary(t)
	sup := NewSupervisor(Library{lib}, engine, nil)
	main := newMain(w, Library{lib}, sup, engine, ui.Inline{})
	w.SetContent(main.Content())
	main.Show(ui.TabTrain)
	main.Train.SelectPreset("demo")
	main.Train.SelectModel("tiny")
	main.Train.SelectDataset("capitals")
	return main, lib, sup
}

// engineOutput runs the built engine and returns its stdout; the test fails when it fails.
func engineOutput(t *testing.T, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(engineBin, args...).Output()
	if err != nil {
		t.Fatalf("qlora %v: %v", args, err)
	}
	return out
}

// TestTrain_PlanAgreesWithQloraPlan ensures the memory bar shows, for the form's configuration
// exported as run.yaml, the very report `qlora plan --config run.yaml --json` prints for the same
// model and memory, component by component, for several configurations and cards.
func TestTrain_PlanAgreesWithQloraPlan(t *testing.T) {
	main, lib, _ := trainWindow(t, Engine{})
	s := main.Train
	m, _ := lib.Model("tiny")
	steps := []func(){
		func() {},
		func() {
			s.SetField("lora_r", "32")
			s.SetField("max_seq_length", "8192")
			s.Memory().ChooseCard("RTX 4090 (24 GB)")
		},
		func() { s.SetField("optim", "adamw_8bit"); s.SetField("gradient_checkpointing", "true") },
		func() {
			main.UpdateGPU(ui.GPUReading{Devices: []ui.GPUDevice{{Name: "Small GPU", MemoryTotal: 1 << 30}}})
			s.Memory().ChooseCard("Small GPU (1.0 GiB, in this machine)")
			s.SetField("micro_batch_size", "64")
		},
	}
	for i, step := range steps {
		step()
		shown, ok := s.Memory().Report()
		if !ok {
			t.Fatalf("step %d: no plan shown: %q", i, s.Memory().Verdict())
		}
		file := filepath.Join(t.TempDir(), "run.yaml")
		s.Export(file)
		var cli plan.Report
		out := engineOutput(t, "plan", "--model", m.Path, "--config", file, "--gpu-memory", strconv.FormatInt(s.Memory().Memory(), 10), "--json")
		if err := json.Unmarshal(out, &cli); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(shown, cli) {
			t.Errorf("step %d: the app shows\n%+v\nqlora plan prints\n%+v", i, shown, cli)
		}
		if figures := ui.Bytes(cli.TotalBytes) + " needed of " + ui.Bytes(cli.MemoryBytes); !strings.Contains(s.Memory().Verdict(), figures) {
			t.Errorf("step %d: the verdict %q does not say %q", i, s.Memory().Verdict(), figures)
		}
		if i == len(steps)-1 && cli.Fits {
			t.Errorf("step %d: 64 sequences of 8192 tokens fit in 1 GiB: %+v", i, cli)
		}
	}
}

// TestTrain_RunYAMLRoundTrips ensures the run.yaml the form exports names the library's model and
// dataset, holds the form's configuration, and comes back unchanged through `qlora config`.
func TestTrain_RunYAMLRoundTrips(t *testing.T) {
	main, lib, _ := trainWindow(t, Engine{})
	s := main.Train
	s.SetField("lora_r", "12")
	s.SetField("lora_target_modules", "q_proj,v_proj,down_proj")
	s.SetField("use_rslora", "true")
	file := filepath.Join(t.TempDir(), "run.yaml")
	s.Export(file)
	exported, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if back := engineOutput(t, "config", "--config", file); string(back) != string(exported) {
		t.Errorf("qlora config --config run.yaml prints\n%s\nthe form exported\n%s", back, exported)
	}
	doc, _ := run.ReadDoc(file)
	got, err := run.Layers{Docs: []run.Doc{doc}}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := s.Config()
	m, _ := lib.Model("tiny")
	d, _ := lib.Dataset("capitals")
	want.BaseModel, want.Dataset = m.Path, d.Path
	if !reflect.DeepEqual(got, want) {
		t.Errorf("run.yaml holds\n%+v\nthe form shows\n%+v", got, want)
	}
}

// TestTrain_StartRecordsRunAndShowsRuns ensures Start records the run with the form's run.yaml,
// hands it to the supervisor, which starts the engine on it, and brings the Runs tab to the front.
func TestTrain_StartRecordsRunAndShowsRuns(t *testing.T) {
	main, lib, sup := trainWindow(t, testEngine(t))
	s := main.Train
	s.SetField("max_steps", "2")
	s.SetField("max_seq_length", "64")
	s.SetField("eval_steps", "0")
	want, err := Trainer{Library: Library{lib}}.RunYAML(ui.TrainRequest{Model: "tiny", Dataset: "capitals", Config: mustConfig(t, s)})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if got := main.Tabs.Selected().Text; got != ui.TabRuns {
		t.Fatalf("after Start the %s tab is in front", got)
	}
	runs, err := lib.Runs()
	if err != nil || len(runs) != 1 || runs[0].Model != "tiny" || runs[0].Dataset != "capitals" {
		t.Fatalf("recorded %+v, %v", runs, err)
	}
	if rc, _ := lib.RunConfig(runs[0].ID); rc.YAML != string(want) {
		t.Errorf("the run's run.yaml\n%s\nthe form's\n%s", rc.YAML, want)
	}
	waitDone(t, sup, runs[0].ID)
	if r, _ := lib.Run(runs[0].ID); r.Status == storage.StatusRunning {
		t.Errorf("the engine ended, the run is still %q", r.Status)
	}
}

func mustConfig(t *testing.T, s *ui.Train) run.Config {
	t.Helper()
	c, ok := s.Config()
	if !ok {
		t.Fatal("the form is not valid")
	}
	return c
}

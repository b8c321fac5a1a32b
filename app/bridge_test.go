package app

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"

	"github.com/qlora-studio/qlora-studio/cuda/gpuinfo"
	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/trainer/run"
	"github.com/qlora-studio/qlora-studio/ui"
)

// TestBridge ensures engine news and GPU readings reach the window: the status bar counts the
// runs training, the runs screen lists them, a run that ends is announced with a notification,
// listeners get every update, and the GPU panel gets each reading.
func TestBridge(t *testing.T) {
	test.NewTempApp(t)
	w := test.NewTempWindow(t, container.NewStack())
	lib, err := storage.Open(t.TempDir(), &storage.Options{KeepOpen: true})
	if err != nil {
		t.Fatal(err)
	}
	defer lib.Close()
	main := newMain(w, Library{lib}, nil, Engine{}, ui.Inline{})
	b := NewBridge(main, w, "/opt/qlora")
	var got []Update
	b.OnRun(func(u Update) { got = append(got, u) })

	b.Run(Update{RunID: 1, Run: &storage.Run{ID: 1, Status: storage.StatusRunning}})
	b.Run(Update{RunID: 2, Run: &storage.Run{ID: 2, Status: storage.StatusRunning}})
	b.Run(Update{RunID: 1, Event: &run.Event{Type: run.EventStep, Step: 1}})
	if line := main.EngineText(); line != "Engine: /opt/qlora · 2 runs training" {
		t.Errorf("status %q", line)
	}
	if rows := main.Runs.Rows(); len(rows) != 2 {
		t.Errorf("the runs screen lists %+v", rows)
	}
	t1 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	finished := &storage.Run{ID: 2, Name: "beta", Status: storage.StatusFinished, Step: 60, TotalSteps: 60, Started: t1,
		Ended: t1.Add(95 * time.Second), EvalLoss: run.Float(1.25)}
	test.AssertNotificationSent(t, &fyne.Notification{Title: "Run beta finished", Content: "At step 60 of 60 after 1m35s, best eval loss 1.2500."},
		func() { b.Run(Update{RunID: 2, Run: finished}) })
	if line := main.EngineText(); line != "Engine: /opt/qlora · 1 run training" {
		t.Errorf("status %q", line)
	}
	test.AssertNotificationSent(t, nil, func() { b.Run(Update{RunID: 2, Run: finished}) }) // announced once
	test.AssertNotificationSent(t, nil, func() { b.Run(Update{RunID: 3, Run: &storage.Run{ID: 3, Status: storage.StatusFailed}}) })
	if len(got) != 6 || got[2].Event == nil || got[2].Event.Step != 1 {
		t.Errorf("listener got %+v", got)
	}

	b.GPU(nil, fmt.Errorf("%w: libnvidia-ml.so.1 not found", gpuinfo.ErrNoDriver))
	if main.GPUText() != "No NVIDIA GPU: training will use the CPU" || !strings.Contains(main.GPU.Header(), "libnvidia-ml.so.1") {
		t.Errorf("GPU status %q, panel %q", main.GPUText(), main.GPU.Header())
	}
	b.GPU(&gpuinfo.Report{Driver: "550.54.15"}, nil)
	if !strings.Contains(main.GPU.Header(), "the NVIDIA driver sees no GPU") {
		t.Errorf("a driver without GPUs: panel %q", main.GPU.Header())
	}
	b.GPU(&gpuinfo.Report{Driver: "550.54.15", CUDA: "12.4", Devices: []gpuinfo.Device{{Name: "NVIDIA RTX 6000 Ada Generation",
		MemoryTotal: 48 << 30, MemoryUsed: 1 << 30, UtilizationGPU: 5, TemperatureC: -1, PowerW: -1, PowerLimitW: -1}}}, nil)
	if got := main.GPUText(); got != "NVIDIA RTX 6000 Ada Generation · 1.0 GiB of 48.0 GiB · 5% busy" {
		t.Errorf("GPU status %q", got)
	}
	// This machine's own reading, whatever it has, reaches the panel as devices or as a reason.
	b.GPU(gpuinfo.Query())
	if r := main.GPU.Reading(); (len(r.Devices) == 0) == (r.Problem == "") {
		t.Errorf("this machine's reading %+v: devices, or a reason for none", r)
	}
}

// TestMetadata_MatchesFyneAppToml ensures plain `go build` and `fyne package` give the app the
// same identity.
func TestMetadata_MatchesFyneAppToml(t *testing.T) {
	f, err := os.Open("../FyneApp.toml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	details := map[string]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			section = line
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && section == "[Details]" {
			details[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	want := map[string]string{"ID": ID, "Name": Name, "Version": Version, "Icon": "assets/icon.png"}
	for k, v := range want {
		if details[k] != v {
			t.Errorf("FyneApp.toml %s = %q, the app says %q", k, details[k], v)
		}
	}
	if _, err := os.Stat("../" + details["Icon"]); err != nil {
		t.Errorf("icon: %v", err)
	}
}

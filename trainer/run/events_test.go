package run

import (
	"os"
	"path/filepath"
	"testing"
)

// TestEvents_TornLineCutOnReopen ensures a line half-written by a crash is skipped when read and
// cut off when the run reopens the file, so the events appended after it stay readable.
func TestEvents_TornLineCutOnReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), EventsFile)
	e, err := OpenEvents(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.Emit(Event{Type: EventStep, Step: 1, Loss: Float(2.5)})
	e.Close()
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"v":1,"type":"step","st`)
	f.Close()
	events, err := ReadEvents(path)
	if err != nil || len(events) != 1 {
		t.Fatalf("torn file: %d events, %v", len(events), err)
	}
	e, err = OpenEvents(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.Emit(Event{Type: EventStep, Step: 2, Loss: Float(2.0)})
	e.Close()
	events, err = ReadEvents(path)
	if err != nil || len(events) != 2 || events[1].Step != 2 || *events[0].Loss != 2.5 {
		t.Fatalf("after reopening: %+v, %v", events, err)
	}
}

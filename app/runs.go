package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/trainer/run"
)

// Runs is the runs screen's view of the library and the supervisor (ui.RunStore and
// ui.RunControl): the library's runs and series, the events of the run folders, and what the
// supervisor does to runs.
type Runs struct {
	Library
	Supervisor *Supervisor
}

// RunEvents reads the events of run id's folder other than steps, in order: the log and the
// samples its view shows. Steps, the bulk of a long run, are the library's series already;
// lines that cannot be read (a line torn by a crash) are left out.
func (r Runs) RunEvents(id uint64) ([]run.Event, error) {
	rec, err := r.Run(id)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(rec.Dir, run.EventsFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // not started yet
	}
	if err != nil {
		return nil, err
	}
	var events []run.Event
	for line := range bytes.Lines(b) {
		if bytes.Contains(line, []byte(`"type":"step"`)) { // the engine's own spelling: skipped unparsed
			continue
		}
		var ev run.Event
		if json.Unmarshal(line, &ev) != nil || ev.Type == "" || ev.Type == run.EventStep {
			continue
		}
		events = append(events, ev)
	}
	return events, nil
}

// Stop asks run id to stop after a checkpoint.
func (r Runs) Stop(id uint64) error { return r.Supervisor.Stop(id) }

// Kill ends run id at once.
func (r Runs) Kill(id uint64) error { return r.Supervisor.Kill(id) }

// Resume continues run id from its last checkpoint on the kind of backend it trained on;
// maxSteps > 0 sets its new length.
func (r Runs) Resume(id uint64, maxSteps int) error {
	rec, err := r.Run(id)
	if err != nil {
		return err
	}
	_, err = r.Supervisor.Resume(id, maxSteps, backendKind(rec.Backend))
	return err
}

// backendKind is the --backend that picks the kind of backend a run trained on ("cpu-float32"
// is a cpu run); auto when the run does not say.
func backendKind(backend string) string {
	for _, kind := range []string{"cpu", "cuda"} {
		if strings.HasPrefix(backend, kind) {
			return kind
		}
	}
	return "auto"
}

// Delete removes run id from the library, with its folder when withFolder. A run that is
// training is refused: stop it first.
func (r Runs) Delete(id uint64, withFolder bool) error {
	rec, err := r.Run(id)
	if err != nil {
		return err
	}
	if r.Supervisor.Done(id) != nil || rec.Status == storage.StatusRunning {
		return fmt.Errorf("the run %s is training: stop it first", rec.Name)
	}
	return r.RemoveRun(id, withFolder)
}

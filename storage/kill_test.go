package storage

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/qlora-studio/qlora-studio/trainer/run"
)

// TestHelperProcess is not a test: the kill tests run the test binary as a child that does one
// library operation, to kill it with SIGKILL somewhere inside it.
func TestHelperProcess(t *testing.T) {
	op := os.Getenv("QLORA_STORAGE_HELPER")
	if op == "" {
		t.Skip("run by the kill tests")
	}
	l, err := Open(os.Getenv("HELPER_LIBRARY"), &Options{Timeout: 10 * time.Second})
	if err == nil {
		switch op {
		case "add-model":
			_, err = l.AddModel(os.Getenv("HELPER_ARG"), ModelOptions{Name: os.Getenv("HELPER_NAME"), Copy: true})
		case "refresh":
			err = l.Refresh()
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// helper starts the test binary as a helper doing op.
func helper(t *testing.T, op, lib string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), append([]string{"QLORA_STORAGE_HELPER=" + op, "HELPER_LIBRARY=" + lib}, env...)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// rawState opens a library file read-only, as the kill left it and before any clean-up, runs
// bbolt's consistency check and counts the pending entries.
func rawState(t *testing.T, lib string) int {
	t.Helper()
	db, err := bolt.Open(filepath.Join(lib, DBName), 0o644, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pending := 0
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		pending = tx.Bucket(bucketPending).Stats().KeyN
		return nil
	})
	if err != nil {
		t.Fatalf("after the kill, bbolt's check: %v", err)
	}
	return pending
}

// TestAddModel_SIGKILL ensures a process killed with SIGKILL at any point of a copying import
// leaves a library that passes bbolt's check, still has every model committed before, and holds
// either the whole import or, once opened again, nothing of it.
func TestAddModel_SIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 100 MB model")
	}
	src := bigModel(t, 1024, 4)
	lib := filepath.Join(t.TempDir(), "library")
	l, err := Open(lib, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.AddModel(src, ModelOptions{Name: "before"}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	start := time.Now()
	if err := helper(t, "add-model", lib, "HELPER_ARG="+src, "HELPER_NAME=whole").Wait(); err != nil {
		t.Fatal(err)
	}
	whole := time.Since(start)
	const kills = 12
	midway := 0
	for i := 0; i < kills; i++ {
		name := "killed-" + strconv.Itoa(i)
		cmd := helper(t, "add-model", lib, "HELPER_ARG="+src, "HELPER_NAME="+name)
		time.Sleep(whole * time.Duration(i) / kills)
		cmd.Process.Kill()
		cmd.Wait()
		if rawState(t, lib) > 0 {
			midway++
		}
		l, err := Open(lib, nil)
		if err != nil {
			t.Fatalf("kill %d: %v", i, err)
		}
		if err := l.Check(); err != nil {
			t.Fatalf("kill %d: %v", i, err)
		}
		models, err := l.Models()
		if err != nil {
			t.Fatal(err)
		}
		folders := map[string]bool{}
		got := map[string]bool{}
		for _, m := range models {
			got[m.Name] = true
			if m.Copied {
				folders[filepath.Base(m.Path)] = true
				if err := checkUnchanged(m.Name, m.Path, m.Files); err != nil {
					t.Errorf("kill %d: %v", i, err)
				}
			}
		}
		if !got["before"] || !got["whole"] {
			t.Fatalf("kill %d lost a committed model: %v", i, got)
		}
		for _, e := range entries(filepath.Join(lib, ModelsDir)) {
			if !folders[e] {
				t.Errorf("kill %d left %s half imported", i, e)
			}
		}
		l.Close()
	}
	t.Logf("an import takes %v; %d of %d kills landed inside one", whole, midway, kills)
	if midway == 0 {
		t.Error("no kill landed inside an import, so this test proved nothing")
	}
}

// TestRefresh_SIGKILL ensures a process killed while it indexes a long events file leaves a
// library that passes bbolt's check, with the run either indexed whole or not at all, and that the
// next refresh finishes the work.
func TestRefresh_SIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("indexes 100,000 events")
	}
	lib := filepath.Join(t.TempDir(), "library")
	l, err := Open(lib, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := runFolder(t, t.TempDir(), "long")
	var evs []run.Event
	for s := 1; s <= 100_000; s++ {
		evs = append(evs, stepEvent(s, 1/float64(s)))
	}
	events(t, dir, t0, evs...)
	r, err := l.RecordRun(NewRun{Dir: dir, PID: deadPID(t)})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	for i, delay := range []time.Duration{0, 50 * time.Millisecond, 150 * time.Millisecond, 300 * time.Millisecond} {
		cmd := helper(t, "refresh", lib)
		time.Sleep(delay)
		cmd.Process.Kill()
		cmd.Wait()
		rawState(t, lib)
		l, err := Open(lib, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := l.Run(r.ID)
		pts, _ := l.Series(r.ID, Range{})
		if !(got.Indexed == 0 && len(pts) == 0) && !(got.Step == 100_000 && len(pts) == 100_000 && got.Status == StatusCrashed) {
			t.Errorf("kill %d: indexed %d bytes, step %d, %d points, %s", i, got.Indexed, got.Step, len(pts), got.Status)
		}
		l.Close()
	}
	l, _ = Open(lib, nil)
	defer l.Close()
	if err := l.Refresh(); err != nil {
		t.Fatal(err)
	}
	if pts, _ := l.Series(r.ID, Range{}); len(pts) != 100_000 {
		t.Errorf("%d points after the last refresh", len(pts))
	}
}

package app

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"

	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/trainer/run"
)

// child is one engine process and what the supervisor knows of it.
type child struct {
	id   uint64
	pid  int
	dir  string    // the run folder
	cmd  *exec.Cmd // nil for an adopted engine, which is not our child
	done chan struct{}

	stdout, stderr io.ReadCloser
	configFile     string // the configuration handed to `qlora train`, removed when it ends; "" for resume

	mu       sync.Mutex
	asked    syscall.Signal // the last signal the app sent, 0 for none
	final    *run.Event     // the final event, once the engine sent it
	lastStep int
	tail     []string // the last lines of the engine's stderr
}

// stderrLines is how many of the engine's last stderr lines are kept for the reason of a failure.
const stderrLines = 20

// spawnTrain starts `qlora train --events -` on the run's folder with the resolved configuration.
func (s *Supervisor) spawnTrain(r storage.Run, cfg []byte, backend string) (*child, error) {
	f, err := os.CreateTemp("", "qlora-run-*.yaml")
	if err != nil {
		return nil, err
	}
	_, err = f.Write(cfg)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return nil, err
	}
	c, err := s.spawn(r, "train", []string{"--config", f.Name(), "--out", r.Dir}, backend)
	if err != nil {
		os.Remove(f.Name())
		return nil, err
	}
	c.configFile = f.Name()
	return c, nil
}

// spawnResume starts `qlora resume --events -` on the run's folder, extended to maxSteps when > 0.
func (s *Supervisor) spawnResume(r storage.Run, maxSteps int, backend string) (*child, error) {
	var args []string
	if maxSteps > 0 {
		args = append(args, "--set", fmt.Sprintf("max_steps=%d", maxSteps))
	}
	return s.spawn(r, "resume", append(args, r.Dir), backend)
}

// spawn starts the engine's command (train or resume) for run r with its events on stdout.
func (s *Supervisor) spawn(r storage.Run, command string, args []string, backend string) (*child, error) {
	if backend == "" {
		backend = "auto"
	}
	all := []string{command}
	if s.engine.NoLibrary {
		all = append(all, "--no-library")
	}
	all = append(all, "--events", "-", "--backend", backend)
	cmd := exec.Command(s.engine.Path, append(all, args...)...)
	cmd.SysProcAttr = childAttr()
	c := &child{id: r.ID, dir: r.Dir, cmd: cmd, done: make(chan struct{})}
	var err error
	if c.stdout, err = cmd.StdoutPipe(); err == nil {
		c.stderr, err = cmd.StderrPipe()
	}
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		return nil, err
	}
	c.pid = cmd.Process.Pid
	return c, nil
}

// signal sends sig to the engine and remembers it, for the reason if the run ends without a
// final event.
func (c *child) signal(sig syscall.Signal) error {
	c.mu.Lock()
	c.asked = sig
	c.mu.Unlock()
	if c.cmd != nil {
		return c.cmd.Process.Signal(sig)
	}
	if !isEngine(c.pid, c.dir) {
		return fmt.Errorf("process %d is no longer the engine", c.pid)
	}
	return syscall.Kill(c.pid, sig)
}

// supervise reads the child's events and stderr until it ends, has the library index the events
// as they come, and settles the run when the child is gone.
func (s *Supervisor) supervise(c *child) {
	poke := make(chan struct{}, 1)
	indexed := make(chan struct{})
	go func() { // the library indexes metrics.jsonl, at most one refresh waiting at a time
		defer close(indexed)
		for range poke {
			if r, err := s.lib.RefreshRun(c.id); err == nil {
				s.notify(Update{RunID: c.id, Run: &r})
			}
		}
	}()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.readStderr()
	}()
	c.readEvents(func(ev run.Event) {
		s.notify(Update{RunID: c.id, Event: &ev})
		select {
		case poke <- struct{}{}:
		default:
		}
	})
	wg.Wait()
	close(poke)
	<-indexed

	// Both pipes are closed: the engine has exited but is not reaped yet, so the library still
	// sees its pid alive and records the end with our reason rather than as a crash.
	status, known := exitStatus(c.pid)
	r, err := s.lib.EndRun(c.id, c.reason(status, known))
	c.cmd.Wait()
	if c.configFile != "" {
		os.Remove(c.configFile)
	}
	if err != nil {
		r, err = s.lib.RefreshRun(c.id)
	}
	if err == nil {
		s.notify(Update{RunID: c.id, Run: &r})
	}
}

// readEvents reads the engine's stdout: one JSON event per line. Lines that are not events are
// skipped; a sample's completion may make a line long, so lines have no length limit.
func (c *child) readEvents(each func(run.Event)) {
	rd := bufio.NewReader(c.stdout)
	for {
		line, err := rd.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			var ev run.Event
			if json.Unmarshal(line, &ev) == nil && ev.Type != "" {
				c.mu.Lock()
				if ev.Step > 0 {
					c.lastStep = ev.Step
				}
				switch ev.Type {
				case run.EventFinished, run.EventStopped, run.EventFailed:
					c.final = &ev
				}
				c.mu.Unlock()
				each(ev)
			}
		}
		if err != nil {
			return
		}
	}
}

// readStderr keeps the last lines of the engine's human progress, for the reason of a failure.
func (c *child) readStderr() {
	sc := bufio.NewScanner(c.stderr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		c.mu.Lock()
		c.tail = append(c.tail, line)
		if len(c.tail) > stderrLines {
			c.tail = c.tail[1:]
		}
		c.mu.Unlock()
	}
	io.Copy(io.Discard, c.stderr) // a line over the limit: drain the rest so the engine never blocks
}

// reason says why a run ended without a final event, from what the app asked, how the engine
// exited (when known) and the last thing it printed.
func (c *child) reason(status syscall.WaitStatus, known bool) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	at := ""
	if c.lastStep > 0 {
		at = fmt.Sprintf(" at step %d", c.lastStep)
	}
	last := ""
	for i := len(c.tail) - 1; i >= 0 && last == ""; i-- {
		if strings.HasPrefix(c.tail[i], "qlora") || strings.Contains(c.tail[i], "error") || strings.Contains(c.tail[i], "panic") {
			last = c.tail[i]
		}
	}
	if last == "" && len(c.tail) > 0 {
		last = c.tail[len(c.tail)-1]
	}
	switch {
	case c.asked == syscall.SIGKILL:
		return "killed" + at + " (Kill); resume it from its last checkpoint"
	case known && status.Signaled() && status.Signal() == syscall.SIGKILL:
		return "the engine was killed" + at + " (SIGKILL), perhaps by the system for lack of memory; resume it from its last checkpoint"
	case known && status.Signaled():
		return fmt.Sprintf("the engine was killed%s by %v", at, status.Signal())
	case c.asked == syscall.SIGTERM:
		return "asked to stop" + at + ", the engine ended without its final checkpoint" + withOutput(last)
	case known && status.Exited() && status.ExitStatus() != 0:
		return fmt.Sprintf("the engine exited with status %d%s%s", status.ExitStatus(), at, withOutput(last))
	}
	return "the engine ended without a final event" + at + withOutput(last)
}

func withOutput(last string) string {
	if last == "" {
		return ""
	}
	return ": " + last
}

package app

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stopWait is how long a command has, after SIGTERM, to clean up and exit before it is killed.
const stopWait = time.Minute

// engineCommand is one short-lived engine command run as a child: an export, a generation, the
// demo. Unlike a run, nothing of it outlives the app.
type engineCommand struct {
	args   []string
	stdout func(line string) // each line it prints on stdout
	stderr func(line string) // each line of its stderr (human progress, errors); may be nil
}

// run runs the command until it exits, handing its output over line by line from the goroutines
// that read it. Cancelling ctx sends SIGTERM, on which the engine stops cleanly (an export
// removes what it had written), and SIGKILL after stopWait; run then returns ctx's error, unless
// the command had succeeded all the same. A failure's error carries the engine's last words on
// stderr.
func (e Engine) run(ctx context.Context, c engineCommand) error {
	if e.Path == "" {
		return ErrNoEngine
	}
	cmd := exec.CommandContext(ctx, e.Path, c.args...)
	cmd.SysProcAttr = childAttr()
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = stopWait
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	var tail tailLines
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		eachLine(stderr, func(line string) {
			tail.add(line)
			if c.stderr != nil {
				c.stderr(line)
			}
		})
	}()
	eachLine(stdout, c.stdout)
	wg.Wait()
	err = cmd.Wait()
	switch {
	case cmd.ProcessState != nil && cmd.ProcessState.Success():
		return nil // done, even if a cancellation came too late to stop it
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return fmt.Errorf("qlora %s: %w%s", c.args[0], err, withOutput(tail.last()))
}

// eachLine calls fn with each line read from r, without its line ending, until r ends. Lines have
// no length limit (a generation may be long).
func eachLine(r io.Reader, fn func(string)) {
	rd := bufio.NewReader(r)
	for {
		line, err := rd.ReadString('\n')
		if line = strings.TrimRight(line, "\r\n"); line != "" || err == nil {
			fn(line)
		}
		if err != nil {
			return
		}
	}
}

// tailLines keeps the last lines of a command's stderr, for the reason of a failure.
type tailLines struct {
	mu    sync.Mutex
	lines []string
}

func (t *tailLines) add(line string) {
	if strings.TrimSpace(line) == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, line)
	if len(t.lines) > stderrLines {
		t.lines = t.lines[1:]
	}
}

// last is the most telling of the last lines: the engine's own error ("qlora export: ..."), else
// the last line.
func (t *tailLines) last() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := len(t.lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(t.lines[i], "qlora") {
			return t.lines[i]
		}
	}
	if len(t.lines) == 0 {
		return ""
	}
	return t.lines[len(t.lines)-1]
}

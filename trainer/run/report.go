package run

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
)

// report writes the human progress line of an event to opt.Progress: one line redrawn in place on a
// terminal, plain lines otherwise.
func (s *session) report(ev Event) {
	w := s.opt.Progress
	if w == nil {
		return
	}
	terminal := isTerminal(w)
	switch ev.Type {
	case EventStep:
		line := fmt.Sprintf("step %d/%d  loss %.4f  lr %.2e  %.0f tok/s  ETA %s", ev.Step, s.state.TotalSteps,
			*ev.Loss, ev.LR, ev.TokensPerS, s.eta(ev).Round(time.Second))
		if terminal {
			fmt.Fprint(w, "\r\033[K"+line)
		} else {
			fmt.Fprintln(w, line)
		}
		return
	case EventEval:
		fmt.Fprintf(w, "%seval at step %d: loss %.4f, perplexity %.2f%s\n", newlineIf(terminal), ev.Step, *ev.EvalLoss, ev.Perplexity, bestMark(ev.Best))
	case EventCheckpoint:
		fmt.Fprintf(w, "%scheckpoint %s\n", newlineIf(terminal), ev.Path)
	case EventFinished, EventStopped, EventFailed:
		fmt.Fprintf(w, "%s%s at step %d %s\n", newlineIf(terminal), ev.Type, ev.Step, ev.Reason)
	}
}

func (s *session) eta(ev Event) time.Duration {
	if ev.Step == 0 {
		return 0
	}
	perStep := ev.ElapsedS / float64(ev.Step)
	return time.Duration(perStep * float64(s.state.TotalSteps-ev.Step) * float64(time.Second))
}

func newlineIf(terminal bool) string {
	if terminal {
		return "\n"
	}
	return ""
}

func bestMark(best bool) string {
	if best {
		return " (best)"
	}
	return ""
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// memoryInUse is the backend's memory in use when it can say (a GPU), else the process's resident
// memory.
func memoryInUse(be backend.Backend) int64 {
	if m, ok := be.(interface{ MemoryInUse() int64 }); ok {
		return m.MemoryInUse()
	}
	statm, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(statm))
	if len(fields) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(fields[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// gpuUtilization is the percent of NVML's last sample period the GPU was busy when the backend can
// say (the CUDA backend's Utilization, -1 when NVML cannot), else nil: the step event leaves it out.
func gpuUtilization(be backend.Backend) *int {
	u, ok := be.(interface{ Utilization() int })
	if !ok {
		return nil
	}
	if percent := u.Utilization(); percent >= 0 {
		return &percent
	}
	return nil
}

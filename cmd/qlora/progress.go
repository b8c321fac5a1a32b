package main

import (
	"fmt"
	"io"
	"os"
	"time"
)

// progress reports "label: done/total" on stderr: one line redrawn in place on a terminal, a few
// plain lines otherwise (logs, the desktop app reading the child's stderr).
type progress struct {
	w        io.Writer
	label    string
	terminal bool
	last     time.Time
	shown    bool
}

func newProgress(w io.Writer, label string) *progress {
	f, ok := w.(*os.File)
	terminal := false
	if ok {
		if st, err := f.Stat(); err == nil {
			terminal = st.Mode()&os.ModeCharDevice != 0
		}
	}
	return &progress{w: w, label: label, terminal: terminal}
}

func (p *progress) update(done, total int) {
	interval := 200 * time.Millisecond
	if !p.terminal {
		interval = 5 * time.Second
	}
	if done < total && time.Since(p.last) < interval {
		return
	}
	p.last = time.Now()
	line := fmt.Sprintf("%s: %d/%d tensors (%d%%)", p.label, done, total, 100*done/max(total, 1))
	if p.terminal {
		fmt.Fprint(p.w, "\r"+line)
		p.shown = true
	} else {
		fmt.Fprintln(p.w, line)
	}
}

// finish ends the redrawn line.
func (p *progress) finish() {
	if p.shown {
		fmt.Fprintln(p.w)
	}
}

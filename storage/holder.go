package storage

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Holder is the process that holds the library's database, as library.holder records it.
type Holder struct {
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Command string    `json:"command"`
	Since   time.Time `json:"since"`
}

// BusyError is the error of a process that waited for the library and gave up. Holder is nil when
// the holder could not be found out.
type BusyError struct {
	Path   string
	Waited time.Duration
	Holder *Holder
}

func (e *BusyError) Error() string {
	who := "another process"
	if h := e.Holder; h != nil {
		who = fmt.Sprintf("process %d", h.PID)
		if h.Command != "" {
			who += fmt.Sprintf(" (%s)", h.Command)
		}
		if !h.Since.IsZero() {
			who += " since " + h.Since.Local().Format("15:04:05")
		}
	}
	return fmt.Sprintf("the library %s is busy: held by %s; waited %s. Try again when it is done, or use another library (--library DIR)",
		e.Path, who, e.Waited.Round(time.Millisecond))
}

// Is makes errors.Is(err, ErrBusy) true.
func (e *BusyError) Is(target error) bool { return target == ErrBusy }

// thisHost is the host name that liveness checks compare with.
var thisHost, _ = os.Hostname()

// writeHolder notes this process as the database's holder. The note only serves the messages of
// processes that find the library busy, so failing to write it is not an error; it is not synced.
func writeHolder(path, command string) {
	if command == "" {
		command = commandLine()
	}
	b, _ := json.Marshal(Holder{PID: os.Getpid(), Host: thisHost, Command: command, Since: time.Now().UTC()})
	tmp := path + ".tmp-" + strconv.Itoa(os.Getpid())
	if os.WriteFile(tmp, b, 0o644) == nil {
		os.Rename(tmp, path)
	}
}

// commandLine is this process's command, shortened for messages.
func commandLine() string {
	args := append([]string{filepath.Base(os.Args[0])}, os.Args[1:]...)
	s := strings.Join(args, " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

// busy builds the error for a database that stayed locked: the holder's note when it names a live
// process, else whatever /proc says holds the file.
func (l *Library) busy() error {
	e := &BusyError{Path: l.Path(), Waited: l.opt.Timeout}
	var h Holder
	if b, err := os.ReadFile(filepath.Join(l.dir, HolderName)); err == nil && json.Unmarshal(b, &h) == nil && alive(h.PID, h.Host) {
		e.Holder = &h
	} else if pid := procHolder(l.Path()); pid > 0 {
		e.Holder = &Holder{PID: pid, Host: thisHost, Command: procCommand(pid)}
	}
	return e
}

// alive says whether process pid on host may still be running. A process on another host (a
// library on a shared disk) is taken to be alive.
func alive(pid int, host string) bool {
	if pid <= 0 {
		return false
	}
	if host != "" && host != thisHost {
		return true
	}
	return processAlive(pid)
}

// procHolder finds a process other than this one that has path open, from /proc (Linux); 0 when
// none is found or there is no /proc.
func procHolder(path string) int {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	self := os.Getpid()
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == self {
			continue
		}
		fds, err := os.ReadDir(filepath.Join("/proc", p.Name(), "fd"))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if target, err := os.Readlink(filepath.Join("/proc", p.Name(), "fd", fd.Name())); err == nil && target == path {
				return pid
			}
		}
	}
	return 0
}

// procCommand is pid's command line from /proc, or "".
func procCommand(pid int) string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return ""
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	if len(args) > 0 {
		args[0] = filepath.Base(args[0])
	}
	return strings.Join(args, " ")
}

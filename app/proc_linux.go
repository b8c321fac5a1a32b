//go:build linux

package app

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// childAttr puts the engine in its own process group, so that a Ctrl-C meant for the app does not
// reach it (the app stops its runs itself), and has the kernel send it SIGTERM if the app dies, so
// that it writes a checkpoint and ends the run as stopped instead of training on unwatched.
// (Pdeathsig follows the thread that started the child; Go keeps threads that no locked
// goroutine owns for the life of the process.)
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// exitStatus waits until the child pid has exited and reads its exit status without reaping it,
// so that its pid stays taken (a zombie) while the library records the end. It reads the status
// from /proc/PID/stat (exit_code, field 52, Linux 3.5 and later).
func exitStatus(pid int) (syscall.WaitStatus, bool) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EINTR) {
			return 0, false
		}
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	fields := strings.Fields(string(b[i+1:])) // fields[0] is field 3, the state
	if len(fields) < 50 {
		return 0, false
	}
	code, err := strconv.Atoi(fields[49])
	if err != nil {
		return 0, false
	}
	return syscall.WaitStatus(code), true
}

// isEngine says whether pid is still an engine process (a `qlora` binary), working on dir when dir
// is given: a guard before signalling a pid recorded by an earlier app, which may have been reused.
func isEngine(pid int, dir string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || len(b) == 0 {
		return false
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	if !strings.HasPrefix(filepath.Base(args[0]), engineName) {
		return false
	}
	if dir == "" {
		return true
	}
	for _, a := range args[1:] {
		if a == dir || filepath.Clean(a) == filepath.Clean(dir) {
			return true
		}
	}
	return false
}

//go:build unix && !linux

package app

import "syscall"

// childAttr puts the engine in its own process group, so that a Ctrl-C meant for the app does not
// reach it: the app stops its runs itself.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// exitStatus is not known before the child is reaped on this system.
func exitStatus(pid int) (syscall.WaitStatus, bool) { return 0, false }

// isEngine says whether pid is alive; this system offers no portable way to tell what it runs.
func isEngine(pid int, dir string) bool { return syscall.Kill(pid, 0) == nil }

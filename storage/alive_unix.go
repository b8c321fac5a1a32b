//go:build unix

package storage

import (
	"errors"
	"syscall"
)

// processAlive says whether a process with this pid exists (it may belong to another user).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

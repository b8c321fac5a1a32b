//go:build !unix

package storage

// processAlive cannot tell on this system, so every process is taken to be alive: what a dead one
// left is then cleaned up only by hand, never removed under a live one.
func processAlive(pid int) bool { return true }

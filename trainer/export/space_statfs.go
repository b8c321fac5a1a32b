//go:build linux || darwin

package export

import (
	"fmt"
	"syscall"
)

// diskFree is the space statfs says an unprivileged user may still use in dir's file system.
func diskFree(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("%s: %w", dir, err)
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil
}

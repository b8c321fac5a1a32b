//go:build linux

package export

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// TestExport_OutOfSpace ensures an export that cannot fit on a real, size-limited tmpfs leaves
// nothing there: refused up front with the folder, the bytes needed and the bytes free named; and,
// when the free space is misjudged (another program fills the disk meanwhile), stopped by the
// real ENOSPC with its temporary files removed.
func TestExport_OutOfSpace(t *testing.T) {
	baseDir := writeBase(t, smallShape)
	runDir := fakeRun(t, baseDir, randomAdapter(t, baseDir, 4, 8, someTargets, 9), 0, 1)
	mnt := mountTmpfs(t, 300<<10) // the f32 merge needs about 2.2 MB

	_, err := Export(context.Background(), runDir, filepath.Join(mnt, "merged"), Options{Format: Merged, DType: safetensors.F32})
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), mnt) || !strings.Contains(err.Error(), "bytes) are free") {
		t.Fatalf("error %v, want ErrNoSpace naming %s with the sizes", err, mnt)
	}
	emptyDir(t, mnt)

	saved := freeSpace
	freeSpace = func(string) (uint64, error) { return 1 << 40, nil }
	t.Cleanup(func() { freeSpace = saved })
	_, err = Export(context.Background(), runDir, filepath.Join(mnt, "deeper", "merged"), Options{Format: Merged, DType: safetensors.F32})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("error %v, want ENOSPC", err)
	}
	emptyDir(t, mnt)
}

// mountTmpfs mounts a tmpfs of size bytes on a temporary folder for the test. Mounting needs root
// (or CAP_SYS_ADMIN): elsewhere the test is skipped, except under CI=true as root, where failing
// to mount is an error.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size))
	if err != nil {
		if os.Getenv("CI") == "true" && os.Geteuid() == 0 {
			t.Fatalf("mount tmpfs on %s as root under CI: %v", dir, err)
		}
		t.Skipf("cannot mount a tmpfs (%v): run as root to test a full disk", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

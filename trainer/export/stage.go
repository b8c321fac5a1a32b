package export

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// ErrNoSpace is returned, wrapped with the folder and the sizes, when the output's file system has
// less free space than the export needs. Test for it with errors.Is.
var ErrNoSpace = errors.New("not enough free disk space")

// freeSpace reports the bytes an unprivileged user may still write in dir's file system
// (statfs where the system has it). A variable so that a test can pretend there is room and meet
// a real ENOSPC instead.
var freeSpace = diskFree

// stage builds an export in a temporary folder beside out and renames it to out only when build
// succeeded and ctx was not cancelled, so that out either appears complete or not at all. Before
// anything is written it creates out's missing parents and checks that their file system has
// need bytes free. Whatever fails (build, the space check, a cancellation), stage removes the
// temporary folder and the parents it created. It returns the bytes of the files in out.
func stage(ctx context.Context, out string, need int64, build func(tmp string) error) (int64, error) {
	out = filepath.Clean(out)
	if _, err := os.Lstat(out); err == nil {
		return 0, fmt.Errorf("%s: already exists; choose a new folder", out)
	}
	parent := filepath.Dir(out)
	undoParents, err := makeParents(parent)
	if err != nil {
		return 0, err
	}
	done := false
	defer func() {
		if !done {
			undoParents()
		}
	}()
	if err := checkSpace(parent, need); err != nil {
		return 0, err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(out)+".tmp-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	if err := build(tmp); err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			return 0, fmt.Errorf("%s: the disk filled up during the export; what it had written is removed (%w)", out, err)
		}
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil { // MkdirTemp makes it private
		return 0, err
	}
	size, err := folderBytes(tmp)
	if err != nil {
		return 0, err
	}
	if err := os.Rename(tmp, out); err != nil {
		return 0, err
	}
	syncDir(parent)
	done = true
	return size, nil
}

// checkSpace refuses to start an export that cannot fit, naming the folder, the bytes needed and
// the bytes free, rather than failing hours later with a full disk.
func checkSpace(dir string, need int64) error {
	free, err := freeSpace(dir)
	if err != nil {
		return err
	}
	if need > 0 && uint64(need) > free {
		return fmt.Errorf("%s: %w: the export needs about %s (%d bytes), %s (%d bytes) are free",
			dir, ErrNoSpace, humanBytes(need), need, humanBytes(int64(free)), free)
	}
	return nil
}

// makeParents creates dir and its missing ancestors and returns a function that removes those it
// created (if they are still empty), so a failed export leaves no empty folders either.
func makeParents(dir string) (undo func(), err error) {
	var created []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || !errors.Is(err, fs.ErrNotExist) {
			break
		}
		created = append(created, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	undo = func() {
		for _, d := range created { // deepest first
			os.Remove(d)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		undo()
		return nil, err
	}
	return undo, nil
}

// folderBytes is the total size of the regular files under dir.
func folderBytes(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil && info.Mode().IsRegular() {
			total += info.Size()
		}
		return err
	})
	return total, err
}

// syncDir flushes a folder's entries (the final rename) to disk.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// humanBytes prints a size for people: 1.5 GiB, 312.0 MiB, 4.0 KiB, 17 B.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

package storage

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// File is one file a record uses: its name (relative to the record's folder), size, sha256 and
// modification time when recorded.
type File struct {
	Name    string    `json:"name"`
	Size    int64     `json:"size"`
	SHA256  string    `json:"sha256"`
	ModTime time.Time `json:"mod_time"`
}

// Progress is called as bytes are hashed or copied, with the bytes done and in all.
type Progress func(done, total int64)

// counter reports the bytes that pass through it to a Progress.
type counter struct {
	done, total int64
	progress    Progress
}

func (c *counter) Write(p []byte) (int, error) {
	c.done += int64(len(p))
	if c.progress != nil {
		c.progress(c.done, c.total)
	}
	return len(p), nil
}

// hashFile records the file at dir/name without copying it.
func hashFile(dir, name string, c *counter) (File, error) {
	path := filepath.Join(dir, name)
	f, err := os.Open(path)
	if err != nil {
		return File{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return File{}, err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(h, c), f); err != nil {
		return File{}, fmt.Errorf("%s: %w", path, err)
	}
	return File{Name: name, Size: st.Size(), SHA256: hex.EncodeToString(h.Sum(nil)), ModTime: st.ModTime().UTC()}, nil
}

// copyFile copies src/name to dst/name, hashing it on the way, and syncs the copy. The record
// describes the copy.
func copyFile(dst, src, name string, c *counter) (File, error) {
	in, err := os.Open(filepath.Join(src, name))
	if err != nil {
		return File{}, err
	}
	defer in.Close()
	path := filepath.Join(dst, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return File{}, err
	}
	out, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return File{}, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h, c), in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return File{}, fmt.Errorf("copying %s to %s: %w", filepath.Join(src, name), path, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return File{}, err
	}
	return File{Name: name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil)), ModTime: st.ModTime().UTC()}, nil
}

// recordFiles hashes (and, with copyTo set, copies) the named files of dir, reporting progress
// over their total size.
func recordFiles(dir string, names []string, copyTo string, progress Progress) ([]File, error) {
	c := &counter{progress: progress}
	for _, name := range names {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		c.total += st.Size()
	}
	files := make([]File, 0, len(names))
	for _, name := range names {
		var f File
		var err error
		if copyTo != "" {
			f, err = copyFile(copyTo, dir, name, c)
		} else {
			f, err = hashFile(dir, name, c)
		}
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	if copyTo != "" {
		syncDir(copyTo)
	}
	return files, nil
}

// checkUnchanged makes sure the recorded files in dir still have their size and modification
// time; a hash would be exact but would read every byte of a model before each run.
func checkUnchanged(what, dir string, files []File) error {
	for _, f := range files {
		path := filepath.Join(dir, f.Name)
		st, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("%s: %w: %v", what, ErrChanged, err)
		}
		if st.Size() != f.Size || !st.ModTime().Equal(f.ModTime) {
			return fmt.Errorf("%s: %s %w (size %d, modified %s; recorded %d, %s)", what, path, ErrChanged,
				st.Size(), st.ModTime().UTC().Format(time.RFC3339), f.Size, f.ModTime.Format(time.RFC3339))
		}
	}
	return nil
}

// syncDir makes a folder's entries durable; where the system cannot, it is skipped.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// sumBytes is the total size of files.
func sumBytes(files []File) int64 {
	var n int64
	for _, f := range files {
		n += f.Size
	}
	return n
}

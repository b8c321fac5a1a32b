// Package safefile writes files so that a crash, a kill or a full disk never leaves a half-written
// file under the real name: the data goes to a temporary file beside it, is synced, and is renamed
// into place only when complete. An existing file is replaced whole or not at all.
package safefile

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
)

// Write runs write against a buffered temporary file beside path and renames it to path when write,
// the flush and the sync all succeeded. The file gets mode 0644. Errors name path.
func Write(path string, write func(*bufio.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	w := bufio.NewWriterSize(tmp, 1<<20)
	err = tmp.Chmod(0o644) // CreateTemp makes it private; these are ordinary files
	if err == nil {
		err = write(w)
	}
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// WriteFile writes data to path as Write does.
func WriteFile(path string, data []byte) error {
	return Write(path, func(w *bufio.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Copy copies the file src to dst as Write does. When src cannot be opened the error is os.Open's,
// which names src (and which os.IsNotExist recognises).
func Copy(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return Write(dst, func(w *bufio.Writer) error {
		_, err := w.ReadFrom(in)
		return err
	})
}

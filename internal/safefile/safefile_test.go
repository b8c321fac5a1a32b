package safefile

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWrite_FailureKeepsOld ensures a failed write leaves the old file whole and no temporary file.
func TestWrite_FailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.json")
	if err := WriteFile(path, []byte("old")); err != nil {
		t.Fatal(err)
	}
	err := Write(path, func(w *bufio.Writer) error {
		w.WriteString("half of the new")
		return errors.New("disk full")
	})
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("error %v", err)
	}
	b, _ := os.ReadFile(path)
	entries, _ := os.ReadDir(dir)
	if string(b) != "old" || len(entries) != 1 {
		t.Errorf("file %q, %d entries", b, len(entries))
	}
	if err := WriteFile(path, []byte("new")); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	st, _ := os.Stat(path)
	if string(b) != "new" || st.Mode().Perm() != 0o644 {
		t.Errorf("file %q mode %v", b, st.Mode())
	}
}

// TestCopy ensures Copy writes src's bytes to dst, and that a missing src is reported as such
// (os.IsNotExist), leaving dst as it was.
func TestCopy(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	os.WriteFile(src, []byte("generation config"), 0o644)
	if err := Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "generation config" {
		t.Errorf("dst holds %q", b)
	}
	if err := Copy(dst, filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Errorf("copying a missing file: %v", err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "generation config" {
		t.Errorf("a failed copy left dst holding %q", b)
	}
}

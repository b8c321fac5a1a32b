package storage

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestOpen_Sweeps ensures Open deletes what dead processes' imports and every removal left
// announced, keeps what a live import is writing, and never deletes a folder a record uses.
func TestOpen_Sweeps(t *testing.T) {
	l := openTemp(t, nil)
	m, err := l.AddModel(chatModel(t), ModelOptions{Name: "kept", Copy: true})
	if err != nil {
		t.Fatal(err)
	}
	dead, live := deadPID(t), os.Getpid()
	folders := map[string]int{
		"models/0100-dead":   dead, // an import killed mid-copy
		"models/0101-live":   live, // an import still copying
		"datasets/0102-gone": -1,   // a removal killed before deleting its folder
	}
	kept, _ := filepath.Rel(l.Dir(), m.Path)
	err = l.update(func(tx *bolt.Tx) error {
		for dir, pid := range folders {
			os.MkdirAll(filepath.Join(l.Dir(), dir), 0o755)
			os.WriteFile(filepath.Join(l.Dir(), dir, "weights"), []byte("half"), 0o644)
			p := pending{Op: opImport, Paths: []string{dir}, PID: pid, Host: thisHost, Since: time.Now()}
			if pid == -1 {
				p.Op, p.PID = opRemove, live
			}
			if err := putRawPending(tx, p); err != nil {
				return err
			}
		}
		// A killed import whose folder a later import of the same thing committed.
		return putRawPending(tx, pending{Op: opImport, Paths: []string{kept}, PID: dead, Host: thisHost})
	})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	l, err = Open(l.Dir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for dir, pid := range folders {
		_, err := os.Stat(filepath.Join(l.Dir(), dir))
		if exists := err == nil; exists != (pid == live) {
			t.Errorf("%s: exists %v", dir, exists)
		}
	}
	if _, err := os.Stat(filepath.Join(m.Path, "model.safetensors")); err != nil {
		t.Errorf("the committed model lost its files: %v", err)
	}
	var left int
	l.view(func(tx *bolt.Tx) error {
		left = tx.Bucket(bucketPending).Stats().KeyN
		return nil
	})
	if left != 1 {
		t.Errorf("%d pending entries left, want the live one", left)
	}
}

// TestRemoveInside ensures the library never deletes anything outside its folder.
func TestRemoveInside(t *testing.T) {
	l := openTemp(t, nil)
	outside := t.TempDir()
	for _, p := range []string{"", outside, "../x", "models/../../x", "/"} {
		if err := l.removeInside(p); err == nil {
			t.Errorf("%q: deleted", p)
		}
	}
	if _, err := os.Stat(outside); err != nil {
		t.Error(err)
	}
}

func putRawPending(tx *bolt.Tx, p pending) error {
	b := tx.Bucket(bucketPending)
	seq, _ := b.NextSequence()
	v, _ := json.Marshal(p)
	return b.Put(u64(seq), v)
}

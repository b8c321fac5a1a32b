package storage

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// pending is work on the library folder that a transaction has announced and another has not yet
// closed: the folders an import is writing, or the folders of a removed record still to delete.
// Open finishes it when its process is gone: an import's folders are deleted (the import never
// committed), a removal's too (it did).
type pending struct {
	Op    string    `json:"op"`    // opImport or opRemove
	Paths []string  `json:"paths"` // relative to the library folder
	PID   int       `json:"pid"`
	Host  string    `json:"host"`
	Since time.Time `json:"since"`
}

const (
	opImport = "import"
	opRemove = "remove"
)

// addPending announces work in tx and returns its key. Its sequence number also names new folders
// uniquely.
func addPending(tx *bolt.Tx, op string, paths ...string) (uint64, error) {
	b := tx.Bucket(bucketPending)
	seq, err := b.NextSequence()
	if err != nil {
		return 0, err
	}
	v, err := json.Marshal(pending{Op: op, Paths: paths, PID: os.Getpid(), Host: thisHost, Since: time.Now().UTC()})
	if err != nil {
		return 0, err
	}
	return seq, b.Put(u64(seq), v)
}

// setPendingPaths replaces the paths of an announced import once its folder names are known.
func setPendingPaths(tx *bolt.Tx, seq uint64, paths ...string) error {
	b := tx.Bucket(bucketPending)
	var p pending
	if err := json.Unmarshal(b.Get(u64(seq)), &p); err != nil {
		return fmt.Errorf("%w: pending %d: %v", ErrCorrupt, seq, err)
	}
	p.Paths = paths
	v, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return b.Put(u64(seq), v)
}

// deletePending closes announced work.
func deletePending(tx *bolt.Tx, seq uint64) error {
	return tx.Bucket(bucketPending).Delete(u64(seq))
}

// endPending closes announced work in a transaction of its own.
func (l *Library) endPending(seq uint64) error {
	return l.update(func(tx *bolt.Tx) error { return deletePending(tx, seq) })
}

// abandon deletes the folders of an import that failed and closes it. Errors are not reported: the
// import's own error is what matters, and Open tries again.
func (l *Library) abandon(seq uint64, paths ...string) {
	for _, p := range paths {
		l.removeInside(p)
	}
	l.endPending(seq)
}

// finishRemoval deletes the folders of a committed removal and closes it.
func (l *Library) finishRemoval(seq uint64, paths []string) error {
	for _, p := range paths {
		if err := l.removeInside(p); err != nil {
			return err
		}
	}
	return l.endPending(seq)
}

// sweep finishes the pending work of processes that are gone.
func (l *Library) sweep(db *bolt.DB) error {
	type entry struct {
		key []byte
		p   pending
	}
	var stale []entry
	var referenced map[string]bool
	err := db.View(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketPending).ForEach(func(k, v []byte) error {
			var p pending
			if json.Unmarshal(v, &p) != nil {
				stale = append(stale, entry{key: bytes.Clone(k)}) // unreadable: nothing to delete but the note
				return nil
			}
			if p.Op == opRemove || !alive(p.PID, p.Host) {
				stale = append(stale, entry{bytes.Clone(k), p})
			}
			return nil
		})
		if err != nil || len(stale) == 0 {
			return err
		}
		referenced, err = referencedFolders(tx)
		return err
	})
	if err != nil || len(stale) == 0 {
		return err
	}
	for _, e := range stale {
		for _, p := range e.p.Paths {
			if !referenced[filepath.Clean(p)] {
				if err := l.removeInside(p); err != nil {
					return err
				}
			}
		}
	}
	return db.Update(func(tx *bolt.Tx) error {
		for _, e := range stale {
			if err := tx.Bucket(bucketPending).Delete(e.key); err != nil {
				return err
			}
		}
		return nil
	})
}

// referencedFolders are the library folders that committed records use: a second import of the
// same thing may have finished what a killed one announced.
func referencedFolders(tx *bolt.Tx) (map[string]bool, error) {
	refs := map[string]bool{}
	err := tx.Bucket(bucketModels).ForEach(func(k, v []byte) error {
		m, err := decodeModel(v)
		if err != nil {
			return err
		}
		for _, p := range m.folders() {
			refs[filepath.Clean(p)] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = tx.Bucket(bucketDatasets).ForEach(func(k, v []byte) error {
		d, err := decodeDataset(v)
		if err != nil {
			return err
		}
		if d.Folder != "" {
			refs[filepath.Clean(d.Folder)] = true
		}
		return nil
	})
	return refs, err
}

// removeInside deletes a folder or file given relative to the library, refusing anything outside
// it: a bug here must never reach a user's own files.
func (l *Library) removeInside(rel string) error {
	if rel == "" || !filepath.IsLocal(rel) {
		return fmt.Errorf("refusing to delete %q: not inside the library %s", rel, l.dir)
	}
	if err := os.RemoveAll(filepath.Join(l.dir, rel)); err != nil {
		return fmt.Errorf("library: %w", err)
	}
	return nil
}

// u64 is the big-endian key of a sequence number or id, so keys sort as numbers.
func u64(n uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return b[:]
}

package storage

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Export is a file or folder written from one of a run's checkpoints: a PEFT adapter, a merged
// model, a GGUF file, a bitsandbytes 4-bit checkpoint.
type Export struct {
	Run     uint64    `json:"run"`
	Seq     uint64    `json:"seq"`
	Kind    string    `json:"kind"` // peft, merged, gguf, bnb-4bit
	Path    string    `json:"path"` // absolute
	Step    int       `json:"step"` // the checkpoint exported
	Bytes   int64     `json:"bytes"`
	Created time.Time `json:"created"`
}

// ExportKinds are the library's names of the engine's export formats (`qlora export --format`).
var ExportKinds = map[string]string{"peft": "peft", "merged": "merged", "bnb4": "bnb-4bit", "gguf": "gguf"}

// AddExport records an export of run e.Run and returns it with its sequence number.
func (l *Library) AddExport(e Export) (Export, error) {
	if e.Kind == "" || !filepath.IsAbs(e.Path) {
		return Export{}, fmt.Errorf("an export needs a kind and an absolute path (got %q, %q)", e.Kind, e.Path)
	}
	if e.Created.IsZero() {
		e.Created = time.Now().UTC()
	}
	err := l.update(func(tx *bolt.Tx) error {
		if _, err := getRun(tx, e.Run); err != nil {
			return err
		}
		b := tx.Bucket(bucketExports)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		e.Seq = seq
		v, err := json.Marshal(e)
		if err != nil {
			return err
		}
		return b.Put(exportKey(e.Run, seq), v)
	})
	return e, err
}

// Exports lists run id's exports, oldest first.
func (l *Library) Exports(id uint64) ([]Export, error) {
	var out []Export
	err := l.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketExports).Cursor()
		prefix := u64(id)
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			e, err := decodeExport(v)
			if err != nil {
				return fmt.Errorf("export %d of run %d: %w", binary.BigEndian.Uint64(k[8:]), id, err)
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// exportKey is the run's id, then the export's sequence number.
func exportKey(run, seq uint64) []byte {
	return append(u64(run), u64(seq)...)
}

// deleteExports forgets run id's exports (their files stay).
func deleteExports(tx *bolt.Tx, id uint64) error {
	c := tx.Bucket(bucketExports).Cursor()
	prefix := u64(id)
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// decodeExport reads an export record.
func decodeExport(v []byte) (Export, error) {
	var e Export
	if err := json.Unmarshal(v, &e); err != nil {
		return Export{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if e.Run == 0 || e.Kind == "" || !filepath.IsAbs(e.Path) {
		return Export{}, fmt.Errorf("%w: export record without run, kind or absolute path", ErrCorrupt)
	}
	return e, nil
}

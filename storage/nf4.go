package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/qlora-studio/qlora-studio/trainer/export"
)

// NF4Base is a model's base in NF4, cached in the library as the bitsandbytes-layout checkpoint that
// export.WriteBnB4bit writes (a complete model folder: config with quantization_config, weights,
// tokenizer). Later runs with the same block size and double quantization load it instead of
// quantizing the 16-bit base again.
type NF4Base struct {
	Blocksize    int       `json:"blocksize"`
	DoubleQuant  bool      `json:"double_quant"`
	Path         string    `json:"path"` // relative to the library in the database, absolute in what methods return
	Bytes        int64     `json:"bytes"`
	Built        time.Time `json:"built"`
	BuildSeconds float64   `json:"build_seconds"`
}

// NF4Options choose the NF4 base.
type NF4Options struct {
	Blocksize   int  // bnb_4bit_blocksize
	DoubleQuant bool // bnb_4bit_use_double_quant
	// Progress is called after each tensor written while the base is built, with tensors done and in all.
	Progress func(done, total int)
}

// NF4 returns the folder of model name's NF4 base for these options, building it and recording it
// the first time (built is then true). The model's files must be as they were imported
// (ErrChanged otherwise). The library is not held while the base is built.
func (l *Library) NF4(name string, opt NF4Options) (path string, built bool, err error) {
	m, err := l.Model(name)
	if err != nil {
		return "", false, err
	}
	if m.Quantization != "" {
		return "", false, fmt.Errorf("%w: model %q is %s already", ErrPreQuantized, name, m.Quantization)
	}
	if err := checkUnchanged("model "+name, m.Path, m.Files); err != nil {
		return "", false, err
	}
	if c, ok := m.nf4(opt); ok {
		if _, err := os.Stat(filepath.Join(c.Path, "config.json")); err == nil {
			return c.Path, false, nil
		}
	}
	final := filepath.Join(m.Folder, nf4FolderName(opt))
	var seq uint64
	var staging string
	err = l.update(func(tx *bolt.Tx) error {
		if seq, err = addPending(tx, opImport); err != nil {
			return err
		}
		staging = filepath.Join(m.Folder, fmt.Sprintf(".nf4-build-%d", seq))
		return setPendingPaths(tx, seq, staging, final)
	})
	if err != nil {
		return "", false, err
	}
	start := time.Now()
	if err := os.MkdirAll(filepath.Join(l.dir, staging), 0o755); err != nil {
		l.abandon(seq, staging)
		return "", false, err
	}
	out := filepath.Join(l.dir, staging, "nf4")
	err = export.WriteBnB4bit(m.Path, out, export.BnB4bitOptions{Blocksize: opt.Blocksize, DoubleQuant: opt.DoubleQuant, Progress: opt.Progress})
	if err != nil {
		l.abandon(seq, staging)
		return "", false, err
	}
	if err := os.Rename(out, filepath.Join(l.dir, final)); err != nil {
		// Another process built the same base meanwhile: take its.
		l.abandon(seq, staging)
		if m2, err2 := l.Model(name); err2 == nil {
			if c, ok := m2.nf4(opt); ok {
				return c.Path, false, nil
			}
		}
		return "", false, fmt.Errorf("model %q: another process is building its NF4 base; try again (%v)", name, err)
	}
	c := NF4Base{Blocksize: opt.Blocksize, DoubleQuant: opt.DoubleQuant, Path: final, Bytes: dirBytes(filepath.Join(l.dir, final)),
		Built: time.Now().UTC(), BuildSeconds: time.Since(start).Seconds()}
	err = l.update(func(tx *bolt.Tx) error {
		rec, err := getModel(tx, name)
		if err != nil {
			return err
		}
		kept := rec.NF4[:0]
		for _, old := range rec.NF4 {
			if old.Blocksize != c.Blocksize || old.DoubleQuant != c.DoubleQuant {
				kept = append(kept, old)
			}
		}
		rec.NF4 = append(kept, c)
		if err := putModel(tx, rec); err != nil {
			return err
		}
		return deletePending(tx, seq)
	})
	if err != nil {
		l.abandon(seq, staging, final)
		return "", false, err
	}
	os.Remove(filepath.Join(l.dir, staging))
	return l.abs(final), true, nil
}

// nf4 is the cached base for these options, if there is one.
func (m Model) nf4(opt NF4Options) (NF4Base, bool) {
	for _, c := range m.NF4 {
		if c.Blocksize == opt.Blocksize && c.DoubleQuant == opt.DoubleQuant {
			return c, true
		}
	}
	return NF4Base{}, false
}

// nf4FolderName names a cached base by its options: nf4-b64-dq.
func nf4FolderName(opt NF4Options) string {
	name := fmt.Sprintf("nf4-b%d", opt.Blocksize)
	if opt.DoubleQuant {
		name += "-dq"
	}
	return name
}

// dirBytes is the size of the files in a folder (not its subfolders).
func dirBytes(dir string) int64 {
	entries, _ := os.ReadDir(dir)
	var n int64
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
			n += info.Size()
		}
	}
	return n
}

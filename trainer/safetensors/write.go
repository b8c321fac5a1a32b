package safetensors

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// Source is one tensor to write. Data is called once, when the writer reaches the tensor, so that
// a checkpoint far larger than memory can be written one tensor at a time.
type Source struct {
	Name  string
	DType DType
	Shape []int
	Data  func() ([]byte, error)
}

// Bytes is a Source for data already in memory.
func Bytes(name string, dtype DType, shape []int, data []byte) Source {
	return Source{Name: name, DType: dtype, Shape: shape, Data: func() ([]byte, error) { return data, nil }}
}

func (s Source) size() int64 {
	n := int64(s.DType.Size())
	for _, d := range s.Shape {
		n *= int64(d)
	}
	return n
}

// layout orders tensors as the reference writer does (larger elements first, then by name), so
// that wide dtypes stay aligned, and assigns their offsets.
func layout(tensors []Source) ([]Source, []Info, error) {
	sorted := append([]Source(nil), tensors...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if a.DType.Size() != b.DType.Size() {
			return a.DType.Size() > b.DType.Size()
		}
		return a.Name < b.Name
	})
	infos := make([]Info, len(sorted))
	var at int64
	for i, s := range sorted {
		if !s.DType.Valid() {
			return nil, nil, fmt.Errorf("tensor %q: unknown dtype %q", s.Name, s.DType)
		}
		if i > 0 && s.Name == sorted[i-1].Name {
			return nil, nil, fmt.Errorf("tensor %q: written twice", s.Name)
		}
		for _, d := range s.Shape {
			if d < 0 {
				return nil, nil, fmt.Errorf("tensor %q: negative dimension in shape %v", s.Name, s.Shape)
			}
		}
		infos[i] = Info{Name: s.Name, DType: s.DType, Shape: s.Shape, Begin: at, End: at + s.size()}
		at = infos[i].End
	}
	return sorted, infos, nil
}

// WriteFile writes tensors to path. It writes a temporary file beside path, syncs it and renames
// it into place, so an existing file is replaced only by a complete one.
func WriteFile(path string, metadata map[string]string, tensors []Source) error {
	sorted, infos, err := layout(tensors)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	head, err := encodeHeader(metadata, infos)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return writeAtomically(path, func(w *bufio.Writer) error {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(head)))
		w.Write(n[:])
		w.Write(head)
		for i, s := range sorted {
			data, err := s.Data()
			if err != nil {
				return fmt.Errorf("tensor %q: %w", s.Name, err)
			}
			if want := infos[i].End - infos[i].Begin; int64(len(data)) != want {
				return fmt.Errorf("tensor %q: %d bytes of data, but %s %v needs %d", s.Name, len(data), s.DType, s.Shape, want)
			}
			if _, err := w.Write(data); err != nil {
				return err
			}
		}
		return nil
	})
}

// writeAtomically runs write against a temporary file beside path and renames it into place only
// when everything, the final sync included, succeeded.
func writeAtomically(path string, write func(*bufio.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	w := bufio.NewWriterSize(tmp, 1<<20)
	err = tmp.Chmod(0o644) // CreateTemp makes it private; a checkpoint is an ordinary file
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

// WriteShards writes tensors into dir as base.safetensors when they fit in maxShardBytes, otherwise as
// base-00001-of-0000N.safetensors shards plus base.safetensors.index.json, filling shards in the
// given order (a tensor larger than maxShardBytes gets a shard of its own). It returns the file names.
func WriteShards(dir, base string, maxShardBytes int64, metadata map[string]string, tensors []Source) ([]string, error) {
	groups := splitShards(tensors, maxShardBytes)
	if len(groups) == 1 {
		name := base + ".safetensors"
		return []string{name}, WriteFile(filepath.Join(dir, name), metadata, groups[0])
	}
	idx := index{Metadata: map[string]any{"total_size": 0}, WeightMap: map[string]string{}}
	var names []string
	var total int64
	for i, group := range groups {
		name := fmt.Sprintf("%s-%05d-of-%05d.safetensors", base, i+1, len(groups))
		if err := WriteFile(filepath.Join(dir, name), metadata, group); err != nil {
			return nil, err
		}
		for _, s := range group {
			idx.WeightMap[s.Name] = name
			total += s.size()
		}
		names = append(names, name)
	}
	idx.Metadata["total_size"] = total
	js, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return nil, err
	}
	indexName := base + ".safetensors.index.json"
	err = writeAtomically(filepath.Join(dir, indexName), func(w *bufio.Writer) error {
		_, err := w.Write(append(js, '\n'))
		return err
	})
	return append(names, indexName), err
}

func splitShards(tensors []Source, maxShardBytes int64) [][]Source {
	var groups [][]Source
	var current []Source
	var size int64
	for _, s := range tensors {
		if len(current) > 0 && size+s.size() > maxShardBytes {
			groups = append(groups, current)
			current, size = nil, 0
		}
		current = append(current, s)
		size += s.size()
	}
	return append(groups, current)
}

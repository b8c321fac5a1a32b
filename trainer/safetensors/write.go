package safetensors

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"

	"github.com/qlora-studio/qlora-studio/internal/safefile"
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
	return safefile.Write(path, func(w *bufio.Writer) error {
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

// WriteShards writes tensors into dir as base.safetensors when they fit in maxShardBytes, otherwise as
// base-00001-of-0000N.safetensors shards plus base.safetensors.index.json, filling shards in the
// given order (a tensor larger than maxShardBytes gets a shard of its own). It returns the file names.
func WriteShards(dir, base string, maxShardBytes int64, metadata map[string]string, tensors []Source) ([]string, error) {
	sizes := make([]int64, len(tensors))
	for i, s := range tensors {
		sizes[i] = s.size()
	}
	groups := PlanShards(sizes, maxShardBytes)
	names := ShardNames(base, len(groups))
	weightMap := map[string]string{}
	var total int64
	for g, group := range groups {
		var shard []Source
		for _, i := range group {
			shard = append(shard, tensors[i])
			weightMap[tensors[i].Name] = names[g]
			total += sizes[i]
		}
		if err := WriteFile(filepath.Join(dir, names[g]), metadata, shard); err != nil {
			return nil, err
		}
	}
	if len(groups) == 1 {
		return names, nil
	}
	indexName := base + ".safetensors.index.json"
	return append(names, indexName), WriteIndex(filepath.Join(dir, indexName), weightMap, total)
}

// PlanShards groups tensors of the given sizes, in order, into shards of at most maxBytes each (a
// tensor larger than that gets a shard of its own). It returns the tensors' indexes per shard.
func PlanShards(sizes []int64, maxBytes int64) [][]int {
	groups := [][]int{{}}
	var size int64
	for i, s := range sizes {
		if last := len(groups) - 1; len(groups[last]) > 0 && size+s > maxBytes {
			groups = append(groups, nil)
			size = 0
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], i)
		size += s
	}
	return groups
}

// ShardNames are the file names transformers gives n shards: base.safetensors for one, else
// base-00001-of-0000n.safetensors and so on.
func ShardNames(base string, n int) []string {
	if n == 1 {
		return []string{base + ".safetensors"}
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%05d-of-%05d.safetensors", base, i+1, n)
	}
	return names
}

// WriteIndex writes a sharded checkpoint's index: which shard holds each tensor, and the total bytes
// of tensor data.
func WriteIndex(path string, weightMap map[string]string, totalSize int64) error {
	js, err := json.MarshalIndent(index{Metadata: map[string]any{"total_size": totalSize}, WeightMap: weightMap}, "", "  ")
	if err != nil {
		return err
	}
	return safefile.Write(path, func(w *bufio.Writer) error {
		_, err := w.Write(append(js, '\n'))
		return err
	})
}

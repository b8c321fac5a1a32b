package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/qlora-studio/qlora-studio/internal/safefile"
)

// File-format constants.
const (
	Magic            = "GGUF"
	Version          = 3
	DefaultAlignment = 32
	KeyAlignment     = "general.alignment"

	// MaxNameBytes is the longest tensor name ggml stores (GGML_MAX_NAME 64, with its NUL).
	MaxNameBytes = 63
	// MaxDims is the most dimensions a ggml tensor has (GGML_MAX_DIMS).
	MaxDims = 4
)

// TensorSource is one tensor to write. Data is called once, when the writer reaches the tensor, so a
// model far larger than memory is written one tensor at a time; it returns exactly Size() bytes.
type TensorSource struct {
	Name string
	Dims []int // ne, in ggml order: Dims[0] is the innermost (contiguous) dimension
	Type GGMLType
	Data func() ([]byte, error)
}

// Floats is a TensorSource whose values come as float32 and are encoded to t when written.
func Floats(name string, t GGMLType, dims []int, values func() ([]float32, error)) TensorSource {
	return TensorSource{Name: name, Dims: dims, Type: t, Data: func() ([]byte, error) {
		v, err := values()
		if err != nil {
			return nil, err
		}
		return Encode(t, v)
	}}
}

// Elements is the number of values of the tensor.
func (s TensorSource) Elements() int64 {
	n := int64(1)
	for _, d := range s.Dims {
		n *= int64(d)
	}
	return n
}

// Size is the number of bytes of the tensor's data, without padding.
func (s TensorSource) Size() int64 { return s.Type.RowBytes(s.Elements()) }

// check refuses a tensor ggml could not load.
func (s TensorSource) check() error {
	switch {
	case s.Name == "" || len(s.Name) > MaxNameBytes:
		return fmt.Errorf("tensor %q: name must be 1 to %d bytes", s.Name, MaxNameBytes)
	case len(s.Dims) == 0 || len(s.Dims) > MaxDims:
		return fmt.Errorf("tensor %q: %d dimensions, must be 1 to %d", s.Name, len(s.Dims), MaxDims)
	case !s.Type.Known():
		return fmt.Errorf("tensor %q: unknown type %s", s.Name, s.Type)
	case s.Data == nil:
		return fmt.Errorf("tensor %q: no data", s.Name)
	}
	n := int64(1)
	for _, d := range s.Dims {
		if d <= 0 || n > math.MaxInt64/int64(d) {
			return fmt.Errorf("tensor %q: dimensions %v", s.Name, s.Dims)
		}
		n *= int64(d)
	}
	if s.Dims[0]%s.Type.BlockSize() != 0 {
		return fmt.Errorf("tensor %q: rows of %d are not whole %s blocks of %d", s.Name, s.Dims[0], s.Type, s.Type.BlockSize())
	}
	return nil
}

// header is a file's encoded header, everything before the tensor data, already padded.
type header struct {
	bytes     []byte
	alignment int64
	offsets   []int64 // each tensor's offset in the data section
	dataSize  int64   // the data section, every tensor padded
}

// encodeHeader checks the metadata and tensors and encodes everything before the tensor data.
func encodeHeader(kvs []KV, tensors []TensorSource) (*header, error) {
	alignment, err := checkMetadata(kvs)
	if err != nil {
		return nil, err
	}
	h := &header{alignment: alignment}
	b := []byte(Magic)
	b = binary.LittleEndian.AppendUint32(b, Version)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(tensors)))
	b = binary.LittleEndian.AppendUint64(b, uint64(len(kvs)))
	for _, kv := range kvs {
		b = appendString(b, kv.Key)
		b = appendValue(b, kv.Value)
	}
	seen := map[string]bool{}
	for _, s := range tensors {
		if err := s.check(); err != nil {
			return nil, err
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("tensor %q: written twice", s.Name)
		}
		seen[s.Name] = true
		b = appendString(b, s.Name)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(s.Dims)))
		for _, d := range s.Dims {
			b = binary.LittleEndian.AppendUint64(b, uint64(d))
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(s.Type))
		b = binary.LittleEndian.AppendUint64(b, uint64(h.dataSize))
		h.offsets = append(h.offsets, h.dataSize)
		h.dataSize += pad(s.Size(), alignment)
	}
	h.bytes = append(b, make([]byte, pad(int64(len(b)), alignment)-int64(len(b)))...)
	return h, nil
}

// checkMetadata refuses duplicate keys and values Write cannot encode, and returns the alignment.
func checkMetadata(kvs []KV) (int64, error) {
	alignment := int64(DefaultAlignment)
	seen := map[string]bool{}
	for _, kv := range kvs {
		if seen[kv.Key] {
			return 0, fmt.Errorf("metadata key %q: written twice", kv.Key)
		}
		seen[kv.Key] = true
		if !kv.Value.Type().valid() {
			return 0, fmt.Errorf("metadata key %q: %T is not a GGUF value", kv.Key, kv.Value.data)
		}
		if kv.Key == KeyAlignment {
			a, ok := kv.Value.AsUint32()
			if !ok || a == 0 || a&(a-1) != 0 {
				return 0, fmt.Errorf("metadata key %q: %s %s, must be a uint32 power of two", kv.Key, kv.Value.TypeName(), kv.Value)
			}
			alignment = int64(a)
		}
	}
	return alignment, nil
}

// pad rounds n up to a multiple of alignment.
func pad(n, alignment int64) int64 { return (n + alignment - 1) / alignment * alignment }

// FileSize is the size of the file Write would write, for a disk-space check before writing.
func FileSize(kvs []KV, tensors []TensorSource) (int64, error) {
	h, err := encodeHeader(kvs, tensors)
	if err != nil {
		return 0, err
	}
	return int64(len(h.bytes)) + h.dataSize, nil
}

// Write writes a GGUF version 3 file: the metadata in the order given, the tensors in the order
// given, each tensor's data fetched only when it is written and padded to the alignment
// (general.alignment when kvs sets it, else 32). The file is written beside path and renamed into
// place when complete, so path never holds half a file. progress, when not nil, is called after
// each tensor with the tensors done and in all.
func Write(path string, kvs []KV, tensors []TensorSource, progress func(done, total int)) error {
	h, err := encodeHeader(kvs, tensors)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return safefile.Write(path, func(w *bufio.Writer) error {
		if _, err := w.Write(h.bytes); err != nil {
			return err
		}
		for i, s := range tensors {
			if err := writeTensor(w, s, h.alignment); err != nil {
				return err
			}
			if progress != nil {
				progress(i+1, len(tensors))
			}
		}
		return nil
	})
}

func writeTensor(w *bufio.Writer, s TensorSource, alignment int64) error {
	data, err := s.Data()
	if err != nil {
		return fmt.Errorf("tensor %q: %w", s.Name, err)
	}
	if int64(len(data)) != s.Size() {
		return fmt.Errorf("tensor %q: %d bytes of data, but %s %v needs %d", s.Name, len(data), s.Type, s.Dims, s.Size())
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	_, err = w.Write(make([]byte, pad(s.Size(), alignment)-s.Size()))
	return err
}

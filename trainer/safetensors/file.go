package safetensors

import (
	"fmt"
	"os"
)

// File is one open, memory-mapped safetensors file. Its tensors' bytes are read-only views into the
// mapping: they stay valid until Close, and writing to them faults.
type File struct {
	Path     string
	Metadata map[string]string

	mapping []byte
	data    []byte // the buffer after the header
	infos   map[string]Info
	order   []string // tensor names in data order
}

// Open maps path and validates its header. Nothing but the header is read until a tensor is used.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s: is a folder, not a safetensors file", path)
	}
	mapping, err := mapFile(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: map: %w", path, err)
	}
	sf, err := newFile(path, mapping)
	if err != nil {
		unmapFile(mapping)
		return nil, err
	}
	return sf, nil
}

// newFile validates the header of an already mapped (or read) file.
func newFile(path string, mapping []byte) (*File, error) {
	size := int64(len(mapping))
	n, err := readHeaderLength(mapping, size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	h, err := parseHeader(mapping[8:8+n], size-8-n)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	sf := &File{Path: path, Metadata: h.metadata, mapping: mapping, data: mapping[8+n:], infos: map[string]Info{}}
	for _, t := range h.tensors {
		sf.infos[t.Name] = t
		sf.order = append(sf.order, t.Name)
	}
	return sf, nil
}

// Close unmaps the file. Tensors taken from it must not be used afterwards.
func (f *File) Close() error {
	if f.mapping == nil {
		return nil
	}
	err := unmapFile(f.mapping)
	f.mapping, f.data = nil, nil
	return err
}

// Names lists the tensors in the order of their data in the file.
func (f *File) Names() []string { return append([]string(nil), f.order...) }

// Info describes the named tensor without touching its data.
func (f *File) Info(name string) (Info, bool) {
	in, ok := f.infos[name]
	return in, ok
}

// Tensor returns the named tensor, its data a view into the mapping.
func (f *File) Tensor(name string) (Tensor, error) {
	in, ok := f.infos[name]
	if !ok {
		return Tensor{}, fmt.Errorf("%s: no tensor %q", f.Path, name)
	}
	return Tensor{Info: in, File: f.Path, Data: f.data[in.Begin:in.End:in.End]}, nil
}

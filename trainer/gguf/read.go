package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// File is a GGUF file read back: its metadata and tensor descriptions, with each tensor's data read
// on demand.
type File struct {
	Path       string
	Version    uint32
	KV         []KV         // in file order
	Tensors    []TensorInfo // in file order
	Alignment  int64
	DataOffset int64 // where the data section starts in the file

	r      io.ReaderAt
	closer io.Closer
	keys   map[string]int
	byName map[string]int
}

// TensorInfo describes one tensor of a File.
type TensorInfo struct {
	Name   string
	Dims   []int // ne, in ggml order: Dims[0] is the innermost dimension
	Type   GGMLType
	Offset int64 // in the data section
}

// Elements is the number of values of the tensor.
func (t TensorInfo) Elements() int64 {
	n := int64(1)
	for _, d := range t.Dims {
		n *= int64(d)
	}
	return n
}

// Size is the number of bytes of the tensor's data.
func (t TensorInfo) Size() int64 { return t.Type.RowBytes(t.Elements()) }

// rowLength is ne[0], 1 for a tensor of no dimensions (a scalar).
func (t TensorInfo) rowLength() int64 {
	if len(t.Dims) == 0 {
		return 1
	}
	return int64(t.Dims[0])
}

// Open reads the header of the GGUF file at path; tensor data is read when asked for. Close it.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	g, err := Parse(f, st.Size(), path)
	if err != nil {
		f.Close()
		return nil, err
	}
	g.closer = f
	return g, nil
}

// Close closes the file Open opened; for a File from Parse it does nothing.
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	return f.closer.Close()
}

// Get returns the value of a metadata key.
func (f *File) Get(key string) (Value, bool) {
	i, ok := f.keys[key]
	if !ok {
		return Value{}, false
	}
	return f.KV[i].Value, true
}

// Tensor returns the description of the named tensor.
func (f *File) Tensor(name string) (TensorInfo, bool) {
	i, ok := f.byName[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.Tensors[i], true
}

// Data reads the raw bytes of the named tensor.
func (f *File) Data(name string) ([]byte, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("%s: no tensor %q", f.Path, name)
	}
	b := make([]byte, t.Size())
	if len(b) == 0 {
		return b, nil
	}
	// A ReaderAt may report io.EOF along with the last bytes of its input.
	if n, err := f.r.ReadAt(b, f.DataOffset+t.Offset); n < len(b) {
		return nil, fmt.Errorf("%s: tensor %q: %w", f.Path, name, err)
	}
	return b, nil
}

// Float32s reads the named tensor and widens it to float32, dequantizing Q8_0. Only F32, F16, BF16
// and Q8_0 tensors can be read this way.
func (f *File) Float32s(name string) ([]float32, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("%s: no tensor %q", f.Path, name)
	}
	switch t.Type {
	case F32, F16, BF16, Q8_0:
	default:
		return nil, fmt.Errorf("%s: tensor %q: cannot decode %s", f.Path, name, t.Type)
	}
	b, err := f.Data(name)
	if err != nil {
		return nil, err
	}
	v, err := Decode(t.Type, b, int(t.Elements()))
	if err != nil {
		return nil, fmt.Errorf("%s: tensor %q: %w", f.Path, name, err)
	}
	return v, nil
}

// Parse reads the header of a GGUF file of size bytes from r; name only names it in errors. Every
// structural fault is a *FormatError with the offset of the field at fault.
func Parse(r io.ReaderAt, size int64, name string) (*File, error) {
	if size < 0 {
		return nil, &FormatError{Path: name, Reason: fmt.Sprintf("size %d", size)}
	}
	p := &parser{br: bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 1<<16), size: size, path: name}
	f := &File{Path: name, r: r, Alignment: DefaultAlignment,
		keys: map[string]int{}, byName: map[string]int{}}
	if err := p.parse(f); err != nil {
		var fe *FormatError
		if errors.As(err, &fe) {
			return nil, err
		}
		return nil, p.fail("%v", err)
	}
	return f, nil
}

// parser reads a header front to back, knowing its offset for error messages.
type parser struct {
	br    *bufio.Reader
	off   int64 // bytes consumed
	start int64 // where the field being read started
	size  int64
	path  string

	alignmentAt int64   // where general.alignment's value is
	offsetAt    []int64 // where each tensor's offset is
}

func (p *parser) fail(format string, args ...any) error {
	return &FormatError{Path: p.path, Offset: p.start, Reason: fmt.Sprintf(format, args...)}
}

func (p *parser) remaining() int64 { return p.size - p.off }

// read fills b, or fails with a message saying what was being read.
func (p *parser) read(b []byte, what string) error {
	n, err := io.ReadFull(p.br, b)
	p.off += int64(n)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return p.fail("the file ends (at %d bytes) in the middle of %s", p.size, what)
	case err != nil:
		return p.fail("reading %s: %v", what, err)
	}
	return nil
}

func (p *parser) u32(what string) (uint32, error) {
	var b [4]byte
	err := p.read(b[:], what)
	return binary.LittleEndian.Uint32(b[:]), err
}

func (p *parser) u64(what string) (uint64, error) {
	var b [8]byte
	err := p.read(b[:], what)
	return binary.LittleEndian.Uint64(b[:]), err
}

// count reads a uint64 count of items of at least minBytes each, refusing one the rest of the file
// cannot hold, before anything is allocated for it.
func (p *parser) count(what string, minBytes int64) (int, error) {
	p.start = p.off
	n, err := p.u64(what)
	if err != nil {
		return 0, err
	}
	if n > uint64(p.remaining()/minBytes) {
		return 0, p.fail("%s is %d, but only %d bytes remain", what, n, p.remaining())
	}
	return int(n), nil
}

func (p *parser) str(what string) (string, error) {
	n, err := p.count(what+" length", 1)
	if err != nil {
		return "", err
	}
	b := make([]byte, n)
	err = p.read(b, what)
	return string(b), err
}

func (p *parser) parse(f *File) error {
	if err := p.parseHeader(f); err != nil {
		return err
	}
	nTensors, err := p.count("tensor count", 8+4+4+8) // a name's length, dimensions, type, offset
	if err != nil {
		return err
	}
	nKV, err := p.count("metadata count", 8+4+1) // a key's length, type, the smallest value
	if err != nil {
		return err
	}
	for i := range nKV {
		if err := p.parseKV(f, i); err != nil {
			return err
		}
	}
	if err := p.parseAlignment(f); err != nil {
		return err
	}
	for i := range nTensors {
		if err := p.parseTensorInfo(f, i); err != nil {
			return err
		}
	}
	f.DataOffset = pad(p.off, f.Alignment)
	return p.checkData(f)
}

func (p *parser) parseHeader(f *File) error {
	var magic [4]byte
	if err := p.read(magic[:], "the magic"); err != nil {
		return err
	}
	if string(magic[:]) != Magic {
		return p.fail("not a GGUF file: magic %q, want %q", magic[:], Magic)
	}
	p.start = p.off
	v, err := p.u32("the version")
	if err != nil {
		return err
	}
	switch {
	case v&0xffff == 0 && v != 0:
		return p.fail("version %#08x: a big-endian GGUF file, which this reader does not read", v)
	case v < 2 || v > Version:
		return p.fail("GGUF version %d, only versions 2 and 3 are read", v)
	}
	f.Version = v
	return nil
}

func (p *parser) parseKV(f *File, i int) error {
	key, err := p.str(fmt.Sprintf("metadata key %d", i))
	if err != nil {
		return err
	}
	if _, dup := f.keys[key]; dup {
		return p.fail("metadata key %q appears twice", key)
	}
	p.start = p.off
	t, err := p.u32(fmt.Sprintf("the type of %q", key))
	if err != nil {
		return err
	}
	if key == KeyAlignment {
		p.alignmentAt = p.off
	}
	v, err := p.value(ValueType(t), key)
	if err != nil {
		return err
	}
	f.keys[key] = len(f.KV)
	f.KV = append(f.KV, KV{Key: key, Value: v})
	return nil
}

// value reads a value of type t (its type already read).
func (p *parser) value(t ValueType, key string) (Value, error) {
	switch {
	case !t.valid():
		return Value{}, p.fail("metadata key %q: unknown value type %d", key, uint32(t))
	case t == TypeArray:
		return p.array(key)
	case t == TypeString:
		s, err := p.str(fmt.Sprintf("the value of %q", key))
		return String(s), err
	}
	b := make([]byte, valueSizes[t])
	if err := p.read(b, fmt.Sprintf("the value of %q", key)); err != nil {
		return Value{}, err
	}
	return Value{scalar(t, b)}, nil
}

// array reads an array's element type, count and elements.
func (p *parser) array(key string) (Value, error) {
	p.start = p.off
	e, err := p.u32(fmt.Sprintf("the element type of %q", key))
	if err != nil {
		return Value{}, err
	}
	et := ValueType(e)
	if !et.valid() || et == TypeArray {
		return Value{}, p.fail("metadata key %q: arrays of %s are not allowed", key, et)
	}
	minBytes := int64(valueSizes[et])
	if et == TypeString {
		minBytes = 8
	}
	n, err := p.count(fmt.Sprintf("the length of %q", key), minBytes)
	if err != nil {
		return Value{}, err
	}
	if et == TypeString {
		s := make([]string, n)
		for i := range s {
			if s[i], err = p.str(fmt.Sprintf("%q[%d]", key, i)); err != nil {
				return Value{}, err
			}
		}
		return Strings(s), nil
	}
	b := make([]byte, int64(n)*minBytes)
	if err := p.read(b, fmt.Sprintf("the elements of %q", key)); err != nil {
		return Value{}, err
	}
	return Value{scalars(et, b, n)}, nil
}

func (p *parser) parseAlignment(f *File) error {
	v, ok := f.Get(KeyAlignment)
	if !ok {
		return nil
	}
	a, ok := v.AsUint32()
	if !ok || a == 0 || a&(a-1) != 0 {
		p.start = p.alignmentAt
		return p.fail("%s is %s %s, must be a uint32 power of two", KeyAlignment, v.TypeName(), v)
	}
	f.Alignment = int64(a)
	return nil
}

func (p *parser) parseTensorInfo(f *File, i int) error {
	name, err := p.str(fmt.Sprintf("the name of tensor %d", i))
	if err != nil {
		return err
	}
	if len(name) > MaxNameBytes {
		return p.fail("tensor %d: name of %d bytes, the most ggml allows is %d", i, len(name), MaxNameBytes)
	}
	if _, dup := f.byName[name]; dup {
		return p.fail("tensor %q appears twice", name)
	}
	t := TensorInfo{Name: name}
	if t.Dims, err = p.dims(name); err != nil {
		return err
	}
	p.start = p.off
	typ, err := p.u32(fmt.Sprintf("the type of tensor %q", name))
	if err != nil {
		return err
	}
	t.Type = GGMLType(typ)
	if !t.Type.Known() {
		return p.fail("tensor %q: unknown ggml type %d", name, typ)
	}
	if row := t.rowLength(); row%int64(t.Type.BlockSize()) != 0 {
		return p.fail("tensor %q: rows of %d elements are not whole %s blocks of %d", name, row, t.Type, t.Type.BlockSize())
	}
	p.start = p.off
	p.offsetAt = append(p.offsetAt, p.off)
	off, err := p.u64(fmt.Sprintf("the offset of tensor %q", name))
	if err != nil {
		return err
	}
	if off > math.MaxInt64 {
		return p.fail("tensor %q: offset %d", name, off)
	}
	t.Offset = int64(off)
	f.byName[name] = len(f.Tensors)
	f.Tensors = append(f.Tensors, t)
	return nil
}

// maxElements bounds a tensor's element count so its size in bytes (at most 8 per element, for
// F64 and I64) fits an int64.
const maxElements = math.MaxInt64 / 8

// dims reads a tensor's dimension count and dimensions, refusing any whose product overflows.
func (p *parser) dims(name string) ([]int, error) {
	p.start = p.off
	n, err := p.u32(fmt.Sprintf("the dimension count of tensor %q", name))
	if err != nil {
		return nil, err
	}
	if n > MaxDims {
		return nil, p.fail("tensor %q: %d dimensions, the most ggml allows is %d", name, n, MaxDims)
	}
	dims := make([]int, n)
	total := uint64(1)
	for i := range dims {
		p.start = p.off
		d, err := p.u64(fmt.Sprintf("dimension %d of tensor %q", i, name))
		if err != nil {
			return nil, err
		}
		if d > 0 && total > maxElements/d {
			return nil, p.fail("tensor %q: dimension %d is %d, and the element count overflows", name, i, d)
		}
		dims[i] = int(d)
		total *= d
	}
	return dims, nil
}

// checkData requires what gguf.cpp requires: the tensors stored in order, each at the padded end of
// the one before; and each tensor's data inside the file.
func (p *parser) checkData(f *File) error {
	var want int64
	for i, t := range f.Tensors {
		p.start = p.offsetAt[i]
		size := t.Size()
		if t.Offset != want {
			return p.fail("tensor %q: data at offset %d of the data section, want %d (in order, each padded to %d bytes)",
				t.Name, t.Offset, want, f.Alignment)
		}
		if end := f.DataOffset + t.Offset + size; size > p.size || end > p.size || end < 0 {
			return p.fail("tensor %q: %d bytes of %s data from offset %d run past the end of the file (%d bytes)",
				t.Name, size, t.Type, f.DataOffset+t.Offset, p.size)
		}
		want += pad(size, f.Alignment)
	}
	return nil
}

package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
)

// MaxHeaderSize is the largest header the reference implementation accepts.
const MaxHeaderSize = 100_000_000

const metadataKey = "__metadata__"

// Info describes one tensor of a file: its element type, its shape and where its bytes lie in the
// data buffer (Begin inclusive, End exclusive, relative to the buffer that follows the header).
type Info struct {
	Name  string
	DType DType
	Shape []int
	Begin int64
	End   int64
}

// NumElements is the product of the shape (1 for a scalar).
func (in Info) NumElements() int {
	n := 1
	for _, d := range in.Shape {
		n *= d
	}
	return n
}

// header is a parsed, validated file header.
type header struct {
	metadata map[string]string
	tensors  []Info // in data order
	dataSize int64  // bytes of the data buffer the header describes
}

type rawEntry struct {
	DType       string  `json:"dtype"`
	Shape       []int64 `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

// readHeaderLength reads the 8-byte little-endian header length and checks it against the limits.
func readHeaderLength(prefix []byte, fileSize int64) (int64, error) {
	if len(prefix) < 8 {
		return 0, fmt.Errorf("file is %d bytes, shorter than the 8-byte header length", len(prefix))
	}
	n := binary.LittleEndian.Uint64(prefix)
	if n > MaxHeaderSize {
		return 0, fmt.Errorf("header length %d exceeds the %d-byte limit", n, MaxHeaderSize)
	}
	if int64(n) > fileSize-8 {
		return 0, fmt.Errorf("header length %d runs past the end of the %d-byte file (truncated?)", n, fileSize)
	}
	return int64(n), nil
}

// parseHeader decodes and validates the JSON header. bufferSize is the number of bytes after the
// header; the tensors must cover it exactly, in order, without holes or overlaps.
func parseHeader(js []byte, bufferSize int64) (*header, error) {
	js = bytes.TrimRight(js, " ")
	if len(js) == 0 || js[0] != '{' {
		return nil, errors.New("header is not a JSON object")
	}
	h := &header{}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("header JSON: %w", err)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("header JSON at byte %d: %w", dec.InputOffset(), err)
		}
		name := tok.(string)
		if seen[name] {
			return nil, fmt.Errorf("tensor %q: duplicate key in header", name)
		}
		seen[name] = true
		if name == metadataKey {
			if err := dec.Decode(&h.metadata); err != nil {
				return nil, fmt.Errorf("__metadata__: must map strings to strings: %w", err)
			}
			continue
		}
		var raw rawEntry
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("tensor %q: header entry: %w", name, err)
		}
		info, err := raw.info(name)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		h.tensors = append(h.tensors, info)
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("header JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("header JSON: trailing data after the object")
	}
	return h, h.checkLayout(bufferSize)
}

// info validates one header entry on its own.
func (r rawEntry) info(name string) (Info, error) {
	dt, err := ParseDType(r.DType)
	if err != nil {
		return Info{}, err
	}
	if len(r.DataOffsets) != 2 {
		return Info{}, fmt.Errorf("data_offsets has %d values, want 2", len(r.DataOffsets))
	}
	begin, end := r.DataOffsets[0], r.DataOffsets[1]
	if begin < 0 || end < begin {
		return Info{}, fmt.Errorf("data_offsets [%d, %d] are not an ordered range", begin, end)
	}
	shape := make([]int, len(r.Shape))
	elements := int64(1)
	for i, d := range r.Shape {
		if d < 0 || (d > 0 && elements > math.MaxInt64/8/d) {
			return Info{}, fmt.Errorf("shape %v is negative or too large", r.Shape)
		}
		elements *= d
		shape[i] = int(d)
	}
	if want := elements * int64(dt.Size()); end-begin != want {
		return Info{}, fmt.Errorf("data_offsets [%d, %d] hold %d bytes, but %s %v needs %d", begin, end, end-begin, dt, r.Shape, want)
	}
	return Info{Name: name, DType: dt, Shape: shape, Begin: begin, End: end}, nil
}

// checkLayout sorts the tensors by offset and requires that they tile the buffer exactly.
func (h *header) checkLayout(bufferSize int64) error {
	sort.Slice(h.tensors, func(i, j int) bool {
		a, b := h.tensors[i], h.tensors[j]
		if a.Begin != b.Begin {
			return a.Begin < b.Begin
		}
		return a.End < b.End
	})
	var at int64
	for _, t := range h.tensors {
		switch {
		case t.Begin < at:
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] overlap the previous tensor (which ends at %d)", t.Name, t.Begin, t.End, at)
		case t.Begin > at:
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] leave a hole after byte %d", t.Name, t.Begin, t.End, at)
		case t.End > bufferSize:
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] run past the %d-byte data buffer (truncated file?)", t.Name, t.Begin, t.End, bufferSize)
		}
		at = t.End
	}
	if at != bufferSize {
		return fmt.Errorf("tensors cover %d bytes but the data buffer has %d (truncated or padded file?)", at, bufferSize)
	}
	h.dataSize = at
	return nil
}

// encodeHeader writes the JSON header for tensors laid out in the given order, padded with spaces so
// that the data buffer starts on an 8-byte boundary.
func encodeHeader(metadata map[string]string, tensors []Info) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	if len(metadata) > 0 {
		m, err := json.Marshal(metadata)
		if err != nil {
			return nil, err
		}
		b.WriteString(`"__metadata__":`)
		b.Write(m)
	}
	for i, t := range tensors {
		if i > 0 || len(metadata) > 0 {
			b.WriteByte(',')
		}
		name, err := json.Marshal(t.Name)
		if err != nil {
			return nil, err
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		entry, err := json.Marshal(struct {
			DType       DType    `json:"dtype"`
			Shape       []int    `json:"shape"`
			DataOffsets [2]int64 `json:"data_offsets"`
		}{t.DType, shape, [2]int64{t.Begin, t.End}})
		if err != nil {
			return nil, err
		}
		b.Write(name)
		b.WriteByte(':')
		b.Write(entry)
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	return b.Bytes(), nil
}

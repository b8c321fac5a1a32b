package cpu

import "github.com/qlora-studio/qlora-studio/trainer/nf4"

// memory is one allocation of the backend (New, Load), shared by the tensor made with it and by
// every view of it. It keeps two things that must follow the storage rather than a tensor value:
//
//   - the views taken of it, so that View hands out the same tensor for the same part each time
//     and a training step allocates nothing once warm;
//   - the NF4 weights that Dequantize was asked to write into it and that are not decoded yet.
//     Every op reads its tensors through data(), which decodes first whatever pending part its
//     tensor overlaps; Gemm alone may take a weight as it is, when its b is exactly that weight
//     (see pendingWeight). A later Dequantize over some of the elements of a pending weight keeps
//     the rest of it pending. Because the marks live with the storage, a read or write through any
//     view of the same elements decodes them: the pending state can never be observed.
type memory[T Float] struct {
	data  []T
	views map[[2]int]*Tensor[T] // (offset, length) → the view

	parts  [maxPending]pendingPart
	nparts int
}

// pendingPart is the part of an NF4 weight q that data[at+from : at+to] holds, not decoded yet:
// element i of the flattened weight belongs at data[at+i].
type pendingPart struct {
	q            *nf4.Quantized
	at, from, to int
}

const (
	// maxViews bounds the views remembered per allocation: callers that cut ever new parts (a
	// growing key/value cache during generation) get fresh ones past it.
	maxViews = 1024
	// maxPending bounds the pending parts per allocation; past it the oldest is decoded.
	maxPending = 8
)

// newMemory wraps a fresh allocation in its tensor.
func newMemory[T Float](d []T) *Tensor[T] {
	return &Tensor[T]{Data: d, mem: &memory[T]{data: d}}
}

// view returns the tensor for data[off:off+n].
func (m *memory[T]) view(off, n int) *Tensor[T] {
	key := [2]int{off, n}
	if v, ok := m.views[key]; ok {
		return v
	}
	v := &Tensor[T]{Data: m.data[off : off+n : off+n], mem: m, off: off}
	if m.views == nil {
		m.views = make(map[[2]int]*Tensor[T])
	}
	if len(m.views) < maxViews {
		m.views[key] = v
	}
	return v
}

// defer_ records that data[off:off+q.Len()] holds q. What it overwrites of weights pending there
// is forgotten; their other elements stay pending.
func (m *memory[T]) defer_(off int, q *nf4.Quantized) {
	lo, hi := off, off+q.Len()
	var kept [2 * maxPending]pendingPart
	n := 0
	for _, p := range m.parts[:m.nparts] {
		plo, phi := p.at+p.from, p.at+p.to
		if phi <= lo || plo >= hi {
			kept[n], n = p, n+1
			continue
		}
		if plo < lo {
			kept[n], n = pendingPart{q: p.q, at: p.at, from: p.from, to: lo - p.at}, n+1
		}
		if phi > hi {
			kept[n], n = pendingPart{q: p.q, at: p.at, from: hi - p.at, to: p.to}, n+1
		}
	}
	for n >= maxPending { // decode the oldest to make room
		m.decode(kept[0])
		copy(kept[:], kept[1:n])
		n--
	}
	kept[n], n = pendingPart{q: q, at: off, from: 0, to: q.Len()}, n+1
	m.nparts = copy(m.parts[:], kept[:n])
}

// settle decodes into the storage the pending parts that overlap data[off:off+n].
func (m *memory[T]) settle(off, n int) {
	k := 0
	for _, p := range m.parts[:m.nparts] {
		if p.at+p.to <= off || p.at+p.from >= off+n {
			m.parts[k], k = p, k+1
			continue
		}
		m.decode(p)
	}
	m.nparts = k
}

// decode writes the pending part p into the storage.
func (m *memory[T]) decode(p pendingPart) {
	dst := m.data[p.at+p.from : p.at+p.to]
	if f32, ok := asFloat32(dst); ok {
		decodeNF4(f32, p.q, p.from)
		return
	}
	var staging [512]float32
	for lo := 0; lo < len(dst); lo += len(staging) {
		part := staging[:min(len(staging), len(dst)-lo)]
		decodeNF4(part, p.q, p.from+lo)
		for i, x := range part {
			dst[lo+i] = T(x)
		}
	}
}

// pendingWeight returns the NF4 weight t stands for when t is exactly a pending weight, else nil.
func pendingWeight[T Float](t *Tensor[T]) *nf4.Quantized {
	m := t.mem
	if m == nil {
		return nil
	}
	for _, p := range m.parts[:m.nparts] {
		if p.at == t.off && p.from == 0 && p.to == p.q.Len() && p.to == len(t.Data) {
			return p.q
		}
	}
	return nil
}

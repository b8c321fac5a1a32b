package optim

import (
	"fmt"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
)

// adamW is both kinds. Segments with 32-bit states are updated by the backend's AdamWStep in
// runs: consecutive segments that are neighbours in the parameter arena share one call, their
// moments being laid out in the same order in two state arenas (so segments that tile the arena
// in order make one call per step). Segments with 8-bit states are updated by AdamW8bitStep one
// at a time, each with its own blocks of 256 from its first element, as bitsandbytes quantizes
// each tensor on its own.
//
// For adamw_8bit the segments under Min8bitSize keep 32-bit states, as bitsandbytes does, but
// are updated as torch.optim.AdamW is (AdamWStep): bitsandbytes' own 32-bit kernel applies the
// weight decay after the Adam step, p = (p + Δ)·(1 − lr·wd), where torch applies it before,
// p = p·(1 − lr·wd) + Δ. The two differ by lr·wd·Δ per step and are identical at weight decay 0,
// the QLoRA default.
type adamW struct {
	kind string
	be   backend.Backend
	h    Hyper
	step int

	segments []segment // in the order given to New
	runs     []run32

	elems32, elems8, blocks8 int // for StateBytes
}

// segment is one tensor and its states: m and v (views of the state arenas) when they are
// 32-bit, otherwise the 8-bit codes and absmax with views of the parameters and gradients.
type segment struct {
	Segment
	noDecay          bool // Hyper.NoDecay names it
	m, v             backend.Tensor
	params, grads    backend.Tensor
	c1, c2           backend.Bytes
	absmax1, absmax2 backend.Tensor
}

func (s *segment) eightBit() bool { return s.c1 != nil }

// run32 is one AdamWStep call: views of the arenas, over segments that all decay or all do not
// (neighbours with different decay make two runs).
type run32 struct {
	params, grads, m, v backend.Tensor
	noDecay             bool
}

func newAdamW(kind string, be backend.Backend, params, grads backend.Tensor, segments []Segment, h Hyper) *adamW {
	o := &adamW{kind: kind, be: be, h: h, segments: make([]segment, len(segments))}
	eightBit := func(s Segment) bool { return kind == AdamW8bit && s.Len >= Min8bitSize }
	for _, s := range segments {
		if !eightBit(s) {
			o.elems32 += s.Len
		}
	}
	var mArena, vArena backend.Tensor
	if o.elems32 > 0 {
		mArena, vArena = be.NewFP32(o.elems32), be.NewFP32(o.elems32)
	}
	type span struct {
		param, state, n int
		noDecay         bool
	}
	var spans []span
	state := 0 // next free element of the state arenas
	for i, s := range segments {
		seg := &o.segments[i]
		seg.Segment, seg.noDecay = s, h.NoDecay[s.Name]
		if eightBit(s) {
			blocks := (s.Len + Block8bit - 1) / Block8bit
			seg.params, seg.grads = be.View(params, s.Offset, s.Len), be.View(grads, s.Offset, s.Len)
			seg.c1, seg.c2 = be.NewBytes(s.Len), be.NewBytes(s.Len)
			seg.absmax1, seg.absmax2 = be.NewFP32(blocks), be.NewFP32(blocks)
			o.elems8 += s.Len
			o.blocks8 += blocks
			continue
		}
		seg.m, seg.v = be.View(mArena, state, s.Len), be.View(vArena, state, s.Len)
		if k := len(spans) - 1; k >= 0 && spans[k].param+spans[k].n == s.Offset && spans[k].noDecay == seg.noDecay {
			spans[k].n += s.Len // neighbours in the arena and, by construction, in the states
		} else {
			spans = append(spans, span{param: s.Offset, state: state, n: s.Len, noDecay: seg.noDecay})
		}
		state += s.Len
	}
	for _, sp := range spans {
		o.runs = append(o.runs, run32{
			params: be.View(params, sp.param, sp.n), grads: be.View(grads, sp.param, sp.n),
			m: be.View(mArena, sp.state, sp.n), v: be.View(vArena, sp.state, sp.n), noDecay: sp.noDecay,
		})
	}
	return o
}

func (o *adamW) Step(lr float64) {
	o.step++
	h := backend.AdamW{LR: lr, Beta1: o.h.Beta1, Beta2: o.h.Beta2, Eps: o.h.Eps, WeightDecay: o.h.WeightDecay, Step: o.step}
	for _, r := range o.runs {
		o.be.AdamWStep(r.params, r.grads, r.m, r.v, decayed(h, r.noDecay))
	}
	for i := range o.segments {
		if s := &o.segments[i]; s.eightBit() {
			o.be.AdamW8bitStep(s.params, s.grads, s.c1, s.c2, s.absmax1, s.absmax2, decayed(h, s.noDecay))
		}
	}
}

// decayed is h without weight decay for tensors exempt from it.
func decayed(h backend.AdamW, noDecay bool) backend.AdamW {
	if noDecay {
		h.WeightDecay = 0
	}
	return h
}

func (o *adamW) StateBytes() int64 {
	return 8*int64(o.elems32) + 2*int64(o.elems8) + 8*int64(o.blocks8)
}

func (o *adamW) State() *State {
	st := &State{Kind: o.kind, Step: o.step, Segments: make([]SegmentState, len(o.segments))}
	for i := range o.segments {
		s, out := &o.segments[i], &st.Segments[i]
		out.Name = s.Name
		if s.eightBit() {
			out.Code1, out.Code2 = make([]byte, s.Len), make([]byte, s.Len)
			o.be.DownloadBytes(out.Code1, s.c1)
			o.be.DownloadBytes(out.Code2, s.c2)
			out.Absmax1, out.Absmax2 = o.download(s.absmax1), o.download(s.absmax2)
			continue
		}
		out.M, out.V = o.download(s.m), o.download(s.v)
	}
	return st
}

func (o *adamW) download(t backend.Tensor) []float32 {
	buf := make([]float64, t.Len())
	o.be.Download(buf, t)
	out := make([]float32, len(buf))
	for i, x := range buf {
		out[i] = float32(x)
	}
	return out
}

func (o *adamW) upload(t backend.Tensor, x []float32) {
	buf := make([]float64, len(x))
	for i, v := range x {
		buf[i] = float64(v)
	}
	o.be.Upload(t, buf)
}

func (o *adamW) SetState(st *State) error {
	if err := o.checkState(st); err != nil {
		return err
	}
	for i := range o.segments {
		s, in := &o.segments[i], &st.Segments[i]
		if s.eightBit() {
			o.be.UploadBytes(s.c1, in.Code1)
			o.be.UploadBytes(s.c2, in.Code2)
			o.upload(s.absmax1, in.Absmax1)
			o.upload(s.absmax2, in.Absmax2)
			continue
		}
		o.upload(s.m, in.M)
		o.upload(s.v, in.V)
	}
	o.step = st.Step
	return nil
}

// checkState reports the first way st does not fit this optimizer.
func (o *adamW) checkState(st *State) error {
	if st == nil {
		return fmt.Errorf("optim: no optimizer state")
	}
	if st.Kind != o.kind {
		return fmt.Errorf("optim: the state is of a %s optimizer, this one is %s", st.Kind, o.kind)
	}
	if st.Step < 0 {
		return fmt.Errorf("optim: the state has step %d", st.Step)
	}
	if len(st.Segments) != len(o.segments) {
		return fmt.Errorf("optim: the state has %d segments, the optimizer %d", len(st.Segments), len(o.segments))
	}
	for i := range o.segments {
		s, in := &o.segments[i], &st.Segments[i]
		if in.Name != s.Name {
			return fmt.Errorf("optim: segment %d of the state is %q, want %q", i, in.Name, s.Name)
		}
		if got, want := in.EightBit(), s.eightBit(); got != want {
			return fmt.Errorf("optim: segment %q: the state has %s moments, the optimizer %s", s.Name, bits(got), bits(want))
		}
		blocks := (s.Len + Block8bit - 1) / Block8bit
		lens := []lenCheck{{"m", len(in.M), s.Len}, {"v", len(in.V), s.Len}}
		if s.eightBit() {
			lens = []lenCheck{{"code1", len(in.Code1), s.Len}, {"code2", len(in.Code2), s.Len},
				{"absmax1", len(in.Absmax1), blocks}, {"absmax2", len(in.Absmax2), blocks}}
		}
		for _, l := range lens {
			if l.got != l.want {
				return fmt.Errorf("optim: segment %q: the state has %d values of %s, want %d", s.Name, l.got, l.what, l.want)
			}
		}
	}
	return nil
}

type lenCheck struct {
	what      string
	got, want int
}

func bits(eight bool) string {
	if eight {
		return "8-bit"
	}
	return "32-bit"
}

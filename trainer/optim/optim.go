package optim

import (
	"fmt"
	"math"
	"slices"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
)

// The optimizer kinds, as the run configuration's optim names them.
const (
	// AdamW32bit is torch.optim.AdamW: float32 moments, decoupled weight decay before the step.
	AdamW32bit = "adamw_32bit"
	// AdamW8bit is bitsandbytes' AdamW8bit (block-wise): 8-bit moments for tensors of at least
	// Min8bitSize elements, float32 moments (as AdamW32bit) for the others.
	AdamW8bit = "adamw_8bit"
)

// Kinds lists the optimizer kinds New accepts.
var Kinds = []string{AdamW32bit, AdamW8bit}

// Min8bitSize is bitsandbytes' min_8bit_size: a tensor with fewer elements keeps 32-bit states.
const Min8bitSize = 4096

// Block8bit is the number of elements that share one absmax in the 8-bit states.
const Block8bit = 256

// Segment is one tensor of the parameter arena: elements [Offset, Offset+Len).
type Segment struct {
	Name        string
	Offset, Len int
}

// Hyper are an optimizer's hyperparameters other than the learning rate.
type Hyper struct {
	Beta1, Beta2, Eps, WeightDecay float64
	// NoDecay names the segments exempt from weight decay, as transformers' Trainer exempts biases
	// and norm weights (a second torch param group with weight_decay 0). LoRA exempts none.
	NoDecay map[string]bool
}

// DefaultHyper is the QLoRA recipe's: β (0.9, 0.999), eps 1e-8, no weight decay.
func DefaultHyper() Hyper { return Hyper{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8} }

// Optimizer updates the parameter arena from the gradient arena it was made with.
type Optimizer interface {
	// Step applies one update with learning rate lr from the gradients now in the arena.
	Step(lr float64)
	// StateBytes is the size of the optimizer states as a backend with float32 states holds
	// them: 8 bytes per element with 32-bit states; 2 per element and 8 per block of 256 with
	// 8-bit states.
	StateBytes() int64
	// State copies the states to the host.
	State() *State
	// SetState replaces the states with s, which must come from an optimizer of the same kind
	// over the same segments; on error nothing has changed.
	SetState(s *State) error
}

// State is an optimizer's state on the host, for checkpoints.
type State struct {
	Kind     string
	Step     int // updates applied so far
	Segments []SegmentState
}

// SegmentState holds one segment's moments: M and V when they are 32-bit; otherwise the codes
// of bitsandbytes' signed (Code1) and unsigned (Code2) dynamic maps with one absmax per block
// of 256 elements.
type SegmentState struct {
	Name             string
	M, V             []float32
	Code1, Code2     []byte
	Absmax1, Absmax2 []float32
}

// EightBit reports whether the segment's states are 8-bit.
func (s *SegmentState) EightBit() bool { return s.Code1 != nil }

// New returns an optimizer of the given kind over the segments of params, reading grads (the
// same length as params). Elements outside every segment are left alone. Segments must not
// overlap, and their names, which checkpoints match on, must be distinct.
func New(kind string, be backend.Backend, params, grads backend.Tensor, segments []Segment, h Hyper) (Optimizer, error) {
	if !slices.Contains(Kinds, kind) {
		return nil, fmt.Errorf("optim: unknown optimizer %q (want %s or %s)", kind, AdamW32bit, AdamW8bit)
	}
	if params.Len() != grads.Len() {
		return nil, fmt.Errorf("optim: %d gradients for %d parameters", grads.Len(), params.Len())
	}
	if err := h.validate(); err != nil {
		return nil, err
	}
	if err := checkSegments(segments, params.Len()); err != nil {
		return nil, err
	}
	return newAdamW(kind, be, params, grads, segments, h), nil
}

func (h Hyper) validate() error {
	for _, b := range []struct {
		name string
		v    float64
	}{{"beta1", h.Beta1}, {"beta2", h.Beta2}} {
		if !(b.v >= 0 && b.v < 1) {
			return fmt.Errorf("optim: %s = %v, want 0 ≤ %s < 1", b.name, b.v, b.name)
		}
	}
	if !(h.Eps >= 0 && h.Eps < math.Inf(1)) {
		return fmt.Errorf("optim: eps = %v, want a finite value ≥ 0", h.Eps)
	}
	if !(h.WeightDecay >= 0 && h.WeightDecay < math.Inf(1)) {
		return fmt.Errorf("optim: weight_decay = %v, want a finite value ≥ 0", h.WeightDecay)
	}
	return nil
}

func checkSegments(segments []Segment, n int) error {
	if len(segments) == 0 {
		return fmt.Errorf("optim: no segments to optimize")
	}
	names := make(map[string]bool, len(segments))
	for _, s := range segments {
		if s.Name == "" {
			return fmt.Errorf("optim: segment at offset %d has no name", s.Offset)
		}
		if names[s.Name] {
			return fmt.Errorf("optim: segment %q appears twice", s.Name)
		}
		names[s.Name] = true
		if s.Offset < 0 || s.Len <= 0 || s.Offset+s.Len > n {
			return fmt.Errorf("optim: segment %q [%d, %d) is not a non-empty part of the %d parameters", s.Name, s.Offset, s.Offset+s.Len, n)
		}
	}
	sorted := slices.SortedFunc(slices.Values(segments), func(a, b Segment) int { return a.Offset - b.Offset })
	for i := 1; i < len(sorted); i++ {
		if a, b := sorted[i-1], sorted[i]; a.Offset+a.Len > b.Offset {
			return fmt.Errorf("optim: segments %q and %q overlap", a.Name, b.Name)
		}
	}
	return nil
}

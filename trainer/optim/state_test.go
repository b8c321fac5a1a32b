package optim

import (
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// stateSegments have 32-bit states in both kinds (a, c) and 8-bit ones in adamw_8bit (b: a
// partial last block).
var stateSegments = []Segment{{"a.lora_A", 0, 300}, {"b.lora_B", 300, 5000}, {"c.lora_A", 5300, 77}}

const stateArena = 5400

// stepGrads returns step's gradients (from 1), with a NaN in the 8-bit segment for adamw_8bit.
func stepGrads(kind string, step int) []float64 {
	r := rand.New(rand.NewPCG(uint64(step), 11))
	g := make([]float64, stateArena)
	for i := range g {
		g[i] = 0.1 * r.NormFloat64()
	}
	if kind == AdamW8bit && step == 3 {
		g[1000] = math.NaN()
	}
	return g
}

// TestState_ResumeIsBitExact ensures that 5 steps, State, a fresh optimizer (and arenas) with
// SetState and the parameters of step 5, then 5 more steps give bit for bit the parameters and
// states of 10 steps straight, for both kinds on the float32 backend the engine trains with.
// (The float64 backend resumes within float32 rounding: the states travel as float32.)
func TestState_ResumeIsBitExact(t *testing.T) {
	h := Hyper{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01}
	sched, _ := NewSchedule(Cosine, 1e-3, 2, 10)
	init := make([]float64, stateArena)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range init {
		init[i] = r.NormFloat64()
	}
	for _, kind := range Kinds {
		t.Run(kind, func(t *testing.T) {
			run := func(p0 []float64, st *State, from, to int) ([]float64, *State) {
				be := backends[0].new()
				params, grads := upload(be, p0), be.New(stateArena)
				o, err := New(kind, be, params, grads, stateSegments, h)
				if err != nil {
					t.Fatal(err)
				}
				if st != nil {
					if err := o.SetState(st); err != nil {
						t.Fatal(err)
					}
				}
				for step := from; step <= to; step++ {
					be.Upload(grads, stepGrads(kind, step))
					o.Step(sched.LR(step - 1))
				}
				return download(be, params), o.State()
			}
			straight, stStraight := run(init, nil, 1, 10)
			half, stHalf := run(init, nil, 1, 5)
			if stHalf.Step != 5 {
				t.Fatalf("State().Step = %d after 5 steps", stHalf.Step)
			}
			resumed, stResumed := run(half, stHalf, 6, 10)
			for i := range straight {
				if math.Float64bits(resumed[i]) != math.Float64bits(straight[i]) {
					t.Fatalf("parameter %d: %v resumed, %v straight", i, resumed[i], straight[i])
				}
			}
			if !reflect.DeepEqual(stResumed, stStraight) {
				t.Fatalf("states differ after resuming")
			}
			if eight := stStraight.Segments[1].EightBit(); eight != (kind == AdamW8bit) {
				t.Errorf("segment b has 8-bit states: %v", eight)
			}
		})
	}
}

// TestSetState_Errors ensures a state that does not fit is refused naming what is wrong, and
// leaves the optimizer as it was.
func TestSetState_Errors(t *testing.T) {
	be := backends[0].new()
	params, grads := be.New(stateArena), be.New(stateArena)
	be.Upload(grads, stepGrads(AdamW8bit, 1))
	o, err := New(AdamW8bit, be, params, grads, stateSegments, DefaultHyper())
	if err != nil {
		t.Fatal(err)
	}
	o.Step(1e-3)
	good := o.State()
	for _, c := range []struct {
		edit func(*State) *State
		want string
	}{
		{func(*State) *State { return nil }, "no optimizer state"},
		{func(s *State) *State { s.Kind = AdamW32bit; return s }, "the state is of a adamw_32bit optimizer"},
		{func(s *State) *State { s.Step = -1; return s }, "step -1"},
		{func(s *State) *State { s.Segments = s.Segments[:2]; return s }, "has 2 segments, the optimizer 3"},
		{func(s *State) *State { s.Segments[2].Name = "x"; return s }, `segment 2 of the state is "x", want "c.lora_A"`},
		{func(s *State) *State { s.Segments[0].V = s.Segments[0].V[:299]; return s }, `segment "a.lora_A": the state has 299 values of v, want 300`},
		{func(s *State) *State { s.Segments[1].Absmax2 = nil; return s }, `segment "b.lora_B": the state has 0 values of absmax2, want 20`},
		{func(s *State) *State {
			s.Segments[1] = SegmentState{Name: "b.lora_B", M: make([]float32, 5000), V: make([]float32, 5000)}
			return s
		}, `segment "b.lora_B": the state has 32-bit moments, the optimizer 8-bit`},
	} {
		err := o.SetState(c.edit(o.State()))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("SetState: error %v, want one saying %q", err, c.want)
		}
	}
	if !reflect.DeepEqual(o.State(), good) {
		t.Error("a refused SetState changed the state")
	}
}

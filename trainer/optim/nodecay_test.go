package optim

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestAdamW_NoDecaySegments ensures a segment Hyper.NoDecay names is updated exactly as by an optimizer
// without weight decay, and the others exactly as with it, for both kinds (the 8-bit one with a
// segment large enough for 8-bit states), whatever their order in the arena.
func TestAdamW_NoDecaySegments(t *testing.T) {
	sizes := []int{300, 5000, 7, 4200} // decayed, exempt, exempt, decayed: runs split where it changes
	exempt := []bool{false, true, true, false}
	rnd := rand.New(rand.NewPCG(4, 4))
	var init, grad []float64
	var mixed []Segment
	noDecay := map[string]bool{}
	for i, n := range sizes {
		noDecay[string(rune('a'+i))] = exempt[i]
		mixed = append(mixed, Segment{Name: string(rune('a' + i)), Offset: len(init), Len: n})
		for range n {
			init, grad = append(init, rnd.NormFloat64()), append(grad, rnd.NormFloat64())
		}
	}
	for _, kind := range Kinds {
		be := backends[0].new()
		run := func(exempt map[string]bool, wd float64) []float64 {
			params, grads := upload(be, init), upload(be, grad)
			o, err := New(kind, be, params, grads, mixed, Hyper{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: wd, NoDecay: exempt})
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				o.Step(0.01)
			}
			return download(be, params)
		}
		got := run(noDecay, 0.1)
		withDecay, without := run(nil, 0.1), run(nil, 0)
		for i, s := range mixed {
			want := withDecay
			if noDecay[s.Name] {
				want = without
			}
			if !slices.Equal(got[s.Offset:s.Offset+s.Len], want[s.Offset:s.Offset+s.Len]) {
				t.Errorf("%s: segment %d (no decay %v) is not updated as its own optimizer would", kind, i, noDecay[s.Name])
			}
		}
		if slices.Equal(withDecay, without) {
			t.Fatalf("%s: weight decay 0.1 changed nothing: the test proves nothing", kind)
		}
	}
}

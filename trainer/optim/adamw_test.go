package optim

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
)

// TestAdamW_MatchesTorch ensures adamw_32bit follows torch.optim.AdamW for 10 steps of a
// warmup-cosine schedule over three tensors in one arena, one with weight decay 0.01 (its own
// optimizer, as torch's param groups): per tensor ‖Δ‖/‖ref‖ ≤ 1e-6 on the float32 backend
// against torch in float32, ≤ 1e-12 on the float64 backend against torch in float64.
func TestAdamW_MatchesTorch(t *testing.T) {
	g := loadAdamWGolden(t).AdamW
	names := []string{"a", "b", "c"}
	var segs []Segment
	var init []float64
	for _, name := range names {
		segs = append(segs, Segment{Name: name, Offset: len(init), Len: len(g.Init[name])})
		init = append(init, g.Init[name]...)
	}
	sched, err := NewSchedule(Cosine, g.LR, g.Warmup, g.Total)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			be := b.new()
			want, tol := g.Float32, 1e-6
			if b.name == "float64" {
				want, tol = g.Float64, 1e-12
			}
			params, grads := upload(be, init), be.New(len(init))
			var opts []Optimizer
			for _, group := range [][]Segment{segs[:1], segs[1:]} {
				h := Hyper{Beta1: g.Betas[0], Beta2: g.Betas[1], Eps: g.Eps, WeightDecay: g.WeightDecay[group[0].Name]}
				o, err := New(AdamW32bit, be, params, grads, group, h)
				if err != nil {
					t.Fatal(err)
				}
				opts = append(opts, o)
			}
			worst := 0.0
			for step, gs := range g.Grads {
				var flat []float64
				for _, name := range names {
					flat = append(flat, gs[name]...)
				}
				be.Upload(grads, flat)
				lr := sched.LR(step)
				if lr != g.StepLRs[step] {
					t.Fatalf("step %d: schedule gives lr %v, torch's LambdaLR %v", step, lr, g.StepLRs[step])
				}
				for _, o := range opts {
					o.Step(lr)
				}
				got := download(be, params)
				for _, s := range segs {
					err := relError(got[s.Offset:s.Offset+s.Len], want[step][s.Name])
					worst = max(worst, err)
					if !(err <= tol) {
						t.Errorf("step %d tensor %s: ‖Δ‖/‖ref‖ = %.3g > %.3g", step+1, s.Name, err, tol)
					}
				}
			}
			t.Logf("worst ‖Δ‖/‖ref‖ over 10 steps: %.3g", worst)
		})
	}
}

// TestNew_Errors ensures bad kinds, arenas, segments and hyperparameters are refused with an
// error naming what is wrong.
func TestNew_Errors(t *testing.T) {
	be := backends[0].new()
	p, g := be.New(100), be.New(100)
	ok := []Segment{{"a", 0, 10}, {"b", 10, 20}}
	for _, c := range []struct {
		kind string
		g    backend.Tensor
		segs []Segment
		h    Hyper
		want string
	}{
		{"adamw", g, ok, DefaultHyper(), `unknown optimizer "adamw"`},
		{AdamW32bit, be.New(99), ok, DefaultHyper(), "99 gradients for 100 parameters"},
		{AdamW32bit, g, nil, DefaultHyper(), "no segments"},
		{AdamW32bit, g, []Segment{{"a", 0, 10}, {"a", 20, 5}}, DefaultHyper(), `segment "a" appears twice`},
		{AdamW32bit, g, []Segment{{"", 0, 10}}, DefaultHyper(), "has no name"},
		{AdamW32bit, g, []Segment{{"a", 95, 10}}, DefaultHyper(), `segment "a" [95, 105)`},
		{AdamW8bit, g, []Segment{{"a", 0, 0}}, DefaultHyper(), `segment "a" [0, 0)`},
		{AdamW32bit, g, []Segment{{"b", 10, 20}, {"a", 0, 11}}, DefaultHyper(), `segments "a" and "b" overlap`},
		{AdamW32bit, g, ok, Hyper{Beta1: 1, Beta2: 0.999}, "beta1 = 1"},
		{AdamW32bit, g, ok, Hyper{Beta1: 0.9, Beta2: math.NaN()}, "beta2 = NaN"},
		{AdamW32bit, g, ok, Hyper{Beta1: 0.9, Beta2: 0.999, Eps: -1}, "eps = -1"},
		{AdamW32bit, g, ok, Hyper{Beta1: 0.9, Beta2: 0.999, WeightDecay: math.Inf(1)}, "weight_decay = +Inf"},
	} {
		_, err := New(c.kind, be, p, c.g, c.segs, c.h)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%s, %v, %+v): error %v, want one saying %q", c.kind, c.segs, c.h, err, c.want)
		}
	}
}

// TestAdamW_Layout ensures segments that tile the arena in order make one AdamWStep call, gaps
// and reordering make more, elements outside every segment are left alone, and StateBytes counts
// 8 bytes per 32-bit element and 2 per 8-bit element plus 8 per block.
func TestAdamW_Layout(t *testing.T) {
	be := backends[1].new()
	for _, c := range []struct {
		kind  string
		segs  []Segment
		runs  int
		bytes int64
	}{
		{AdamW32bit, []Segment{{"a", 0, 10}, {"b", 10, 30}, {"c", 40, 5000}}, 1, 8 * 5040},
		{AdamW32bit, []Segment{{"a", 0, 10}, {"c", 40, 5000}, {"b", 10, 30}}, 3, 8 * 5040},
		{AdamW32bit, []Segment{{"a", 0, 10}, {"b", 12, 28}}, 2, 8 * 38},
		{AdamW8bit, []Segment{{"a", 0, 10}, {"b", 10, 30}, {"c", 40, 5000}, {"d", 5040, 4095}}, 2, 8*(10+30+4095) + 2*5000 + 8*20},
	} {
		p := upload(be, make([]float64, 9200))
		g := be.New(9200)
		grads := make([]float64, 9200)
		for i := range grads {
			grads[i] = 1
		}
		be.Upload(g, grads)
		o, err := New(c.kind, be, p, g, c.segs, DefaultHyper())
		if err != nil {
			t.Fatal(err)
		}
		if runs := len(o.(*adamW).runs); runs != c.runs {
			t.Errorf("%v: %d AdamWStep calls per step, want %d", c.segs, runs, c.runs)
		}
		if got := o.StateBytes(); got != c.bytes {
			t.Errorf("%s %v: StateBytes %d, want %d", c.kind, c.segs, got, c.bytes)
		}
		o.Step(1e-3)
		got := download(be, p)
		in := make([]bool, len(got))
		for _, s := range c.segs {
			for i := s.Offset; i < s.Offset+s.Len; i++ {
				in[i] = true
			}
		}
		for i, x := range got {
			if (x != 0) != in[i] {
				t.Fatalf("%v: element %d = %v after a step (in a segment: %v)", c.segs, i, x, in[i])
			}
		}
	}
}

// TestStep_DoesNotAllocate ensures a warm optimizer step allocates nothing (float32 backend).
func TestStep_DoesNotAllocate(t *testing.T) {
	for _, kind := range Kinds {
		be := backends[0].new()
		p, g := be.New(20000), be.New(20000)
		o, err := New(kind, be, p, g, []Segment{{"a", 0, 100}, {"b", 100, 9000}, {"c", 9100, 10000}}, DefaultHyper())
		if err != nil {
			t.Fatal(err)
		}
		o.Step(1e-3)
		if allocs := testing.AllocsPerRun(10, func() { o.Step(1e-3) }); allocs != 0 {
			t.Errorf("%s: %v allocations per step", kind, allocs)
		}
	}
}

func ExampleSchedule_LR() {
	s, _ := NewSchedule(Cosine, 2e-4, WarmupSteps(100, 0, 0.03), 100)
	for _, step := range []int{0, 1, 3, 50, 99} {
		fmt.Printf("%d %.4g\n", step, s.LR(step))
	}
	// Output:
	// 0 0
	// 1 6.667e-05
	// 3 0.0002
	// 50 0.0001049
	// 99 5.244e-08
}

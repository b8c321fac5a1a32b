package optim

import (
	"math"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/nf4"
)

// hash32, uniform8 and grad8 are the golden script's: the gradients of the 8-bit golden.
func hash32(i, step int) uint32 {
	x := uint32(i)*0x9E3779B1 + uint32(step)*0x85EBCA77 + 0x165667B1
	x ^= x >> 15
	x *= 0x2C1B3C6D
	x ^= x >> 12
	x *= 0x297A2D39
	x ^= x >> 15
	return x
}

func uniform8(i, step int) float64 {
	return float64(int64(hash32(i, step)>>8)-1<<23) / (1 << 23)
}

func grad8(step, i int) float64 {
	switch [2]int{step, i} {
	case [2]int{3, 17}:
		return math.NaN()
	case [2]int{5, 4000}:
		return math.Inf(1)
	case [2]int{6, 4999}:
		return math.Inf(-1)
	case [2]int{6, 5003}:
		return 0
	}
	if i < 5000 && i/256 == 7 && step <= 3 {
		return 0
	}
	return uniform8(i, step) * math.Ldexp(1, -((i/256)%6))
}

func loadAdamW8bitGolden(t *testing.T) *adamW8bitGolden {
	var g adamW8bitGolden
	loadJSON(t, "testdata/adamw8bit_golden.json", &g)
	return &g
}

// TestDynamicMaps_MatchBitsandbytes compares the signed and unsigned maps with those
// bitsandbytes' create_dynamic_map builds with the torch that wrote the golden (1.13, AVX2
// kernels): every entry within two float32 ulps. They are not all identical: torch.linspace's
// AVX2 kernel computes a base per 8 lanes with a fused multiply-add and the lanes as
// base + k·step unfused, where trainer/nf4's torchLinspace rounds start + idx·step once for
// every element; the two differ in the last bit of some entries from 17 points on (the signed
// map uses up to 65, the unsigned up to 129).
func TestDynamicMaps_MatchBitsandbytes(t *testing.T) {
	g := loadAdamW8bitGolden(t)
	signed, unsigned := nf4.DynamicMap(), nf4.DynamicMapUnsigned()
	for _, m := range []struct {
		name string
		got  []float32
		want []float32
	}{{"signed", signed[:], g.QMap1.float32s()}, {"unsigned", unsigned[:], g.QMap2.float32s()}} {
		differ := 0
		for i := range m.want {
			got, want := m.got[i], m.want[i]
			if got == want {
				continue
			}
			differ++
			if d := int64(math.Float32bits(got)) - int64(math.Float32bits(want)); math.Signbit(float64(got)) != math.Signbit(float64(want)) || d < -2 || d > 2 {
				t.Errorf("%s map[%d] = %v, bitsandbytes %v: more than two ulps apart", m.name, i, got, want)
			}
		}
		t.Logf("%s map: %d of 256 entries an ulp or two from torch's", m.name, differ)
	}
}

// TestAdamW8bit_MatchesBitsandbytes replays the golden's 10 steps through adamw_8bit: a tensor of
// 5000 elements (8-bit states; a partial last block, an all-zero block for three steps, NaN and
// ±Inf gradients) and one of 100 (32-bit states), weight decay 0.01, a warmup-linear schedule.
//
// The golden ran with torch's maps, a few entries of which are an ulp from ours (above), so a
// state on those codes is an ulp off and a state near one of the moved midpoints may take the
// neighbouring code. Tolerances, per tensor ‖Δ‖/‖ref‖ at every step: the 8-bit tensor ≤ 1e-7 on
// the float32 backend (the same float32 operations; with identical maps it is bit for bit) and
// ≤ 1e-6 on the float64 backend (the algorithm in float64); codes within one of the golden's, no
// more than 0.1% of them different. The 100-element tensor is updated as torch does, weight decay
// before the step, where bitsandbytes' 32-bit kernel applies it after: ≤ 1e-6.
func TestAdamW8bit_MatchesBitsandbytes(t *testing.T) {
	g := loadAdamW8bitGolden(t)
	n8, n32 := g.Sizes[0], g.Sizes[1]
	n := n8 + n32
	init := make([]float64, n)
	for i := range init {
		init[i] = uniform8(i, 0)
	}
	for i, x := range g.Init.float32s() {
		if float64(x) != init[i] {
			t.Fatalf("init[%d]: %v here, %v in the golden: uniform8 differs from the script's", i, init[i], x)
		}
	}
	sched, err := NewSchedule(Linear, g.LR, g.Warmup, g.Total)
	if err != nil {
		t.Fatal(err)
	}
	segs := []Segment{{"big", 0, n8}, {"small", n8, n32}}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			be := b.new()
			params, grads := upload(be, init), be.New(n)
			h := Hyper{Beta1: g.Betas[0], Beta2: g.Betas[1], Eps: g.Eps, WeightDecay: g.WeightDecay}
			o, err := New(AdamW8bit, be, params, grads, segs, h)
			if err != nil {
				t.Fatal(err)
			}
			gs := make([]float64, n)
			var worstBig, worstSmall float64
			var exact, codesDiffer, codesTotal int
			for step := 1; step <= len(g.Steps); step++ {
				for i := range gs {
					gs[i] = grad8(step, i)
				}
				be.Upload(grads, gs)
				lr := sched.LR(step - 1)
				if lr != g.StepLRs[step-1] {
					t.Fatalf("step %d: lr %v, the golden's %v", step, lr, g.StepLRs[step-1])
				}
				o.Step(lr)

				want := g.Steps[step-1]
				got, ref := download(be, params), toFloat64(want.Params.float32s())
				worstBig = max(worstBig, relError(got[:n8], ref[:n8]))
				worstSmall = max(worstSmall, relError(got[n8:], ref[n8:]))
				for i := range n8 {
					if got[i] == ref[i] {
						exact++
					}
				}
				st := o.State().Segments[0]
				for k, c := range [][2][]byte{{st.Code1, want.Code1}, {st.Code2, want.Code2}} {
					for i := range c[1] {
						d := int(c[0][i]) - int(c[1][i])
						if d != 0 {
							codesDiffer++
						}
						if d < -1 || d > 1 {
							t.Errorf("step %d: code%d[%d] = %d, bitsandbytes %d", step, k+1, i, c[0][i], c[1][i])
						}
					}
					codesTotal += len(c[1])
				}
				for k, a := range [][2][]float32{{st.Absmax1, want.Absmax1.float32s()}, {st.Absmax2, want.Absmax2.float32s()}} {
					if err := relError(toFloat64(a[0]), toFloat64(a[1])); !(err <= 1e-6) {
						t.Errorf("step %d: absmax%d ‖Δ‖/‖ref‖ = %.3g", step, k+1, err)
					}
				}
			}
			t.Logf("8-bit tensor: worst ‖Δ‖/‖ref‖ %.3g, %d of %d parameter values identical; %d of %d codes differ; 32-bit tensor: worst %.3g",
				worstBig, exact, n8*len(g.Steps), codesDiffer, codesTotal, worstSmall)
			tolBig := 1e-7
			if b.name == "float64" {
				tolBig = 1e-6
			}
			if !(worstBig <= tolBig) || !(worstSmall <= 1e-6) {
				t.Errorf("parameters off: ‖Δ‖/‖ref‖ %.3g (8-bit, want ≤ %g), %.3g (32-bit, want ≤ 1e-6)", worstBig, tolBig, worstSmall)
			}
			if codesDiffer*1000 > codesTotal {
				t.Errorf("%d of %d codes differ (more than 0.1%%)", codesDiffer, codesTotal)
			}
		})
	}
}

func toFloat64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

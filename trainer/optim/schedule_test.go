package optim

import (
	"math"
	"strings"
	"testing"
)

// TestSchedule_MatchesTransformers ensures every schedule gives, at every update from 0 to
// total+2 (warmup ends, total, past the end), exactly the learning rate torch's LambdaLR gives
// with transformers' lambdas (cosine included: see cosRN).
func TestSchedule_MatchesTransformers(t *testing.T) {
	for _, c := range loadAdamWGolden(t).Schedules {
		s, err := NewSchedule(c.Type, c.Base, c.Warmup, c.Total)
		if err != nil {
			t.Fatal(err)
		}
		for step, want := range c.LRs {
			if got := s.LR(step); got != want {
				t.Errorf("%s warmup %d total %d: LR(%d) = %v, transformers %v", c.Type, c.Warmup, c.Total, step, got, want)
			}
		}
	}
}

// TestCosRN ensures cosRN is within an ulp of math.Cos over [−1, 4π] (it is the more accurate of
// the two; the goldens above hold it to the C library's), and exact where the answer is known.
func TestCosRN(t *testing.T) {
	for i := -1000; i <= 40000; i++ {
		x := float64(i) * 3.1e-4
		got, ref := cosRN(x), math.Cos(x)
		if math.Abs(got-ref) > ulp(ref) {
			t.Fatalf("cosRN(%v) = %v, math.Cos %v", x, got, ref)
		}
	}
	for _, c := range [][2]float64{{0, 1}, {math.Pi, -1}, {math.Pi / 2, 6.123233995736766e-17}, {2 * math.Pi, 1},
		{math.NaN(), math.NaN()}} {
		if got := cosRN(c[0]); got != c[1] && !(math.IsNaN(got) && math.IsNaN(c[1])) {
			t.Errorf("cosRN(%v) = %v, want %v", c[0], got, c[1])
		}
	}
}

func ulp(x float64) float64 { return math.Nextafter(math.Abs(x), math.Inf(1)) - math.Abs(x) }

// TestWarmupSteps_MatchesTransformers ensures explicit warmup steps win and the ratio is ceil'ed
// as TrainingArguments.get_warmup_steps does (100·0.07 is 7.000000000000001: 8 steps).
func TestWarmupSteps_MatchesTransformers(t *testing.T) {
	for _, c := range loadAdamWGolden(t).Warmup {
		if got := WarmupSteps(c.Total, c.Steps, c.Ratio); got != c.Want {
			t.Errorf("WarmupSteps(%d, %d, %v) = %d, want %d", c.Total, c.Steps, c.Ratio, got, c.Want)
		}
	}
}

// TestNewSchedule_Errors ensures bad types and counts are refused, and constant_with_warmup is
// constant.
func TestNewSchedule_Errors(t *testing.T) {
	for _, c := range []struct {
		typ           string
		lr            float64
		warmup, total int
		want          string
	}{
		{"cosine_with_restarts", 1e-3, 0, 10, `unknown lr_scheduler_type "cosine_with_restarts"`},
		{Linear, -1, 0, 10, "learning_rate = -1"},
		{Linear, math.NaN(), 0, 10, "learning_rate = NaN"},
		{Cosine, 1e-3, -1, 10, "-1 warmup steps"},
		{Cosine, 1e-3, 0, -10, "of -10"},
	} {
		if _, err := NewSchedule(c.typ, c.lr, c.warmup, c.total); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewSchedule(%q, %v, %d, %d): error %v, want one saying %q", c.typ, c.lr, c.warmup, c.total, err, c.want)
		}
	}
	s, err := NewSchedule("constant_with_warmup", 1e-3, 2, 10)
	if err != nil || s.Type != Constant || s.LR(1) != 5e-4 || s.LR(2) != 1e-3 {
		t.Errorf("constant_with_warmup: %+v, %v", s, err)
	}
}

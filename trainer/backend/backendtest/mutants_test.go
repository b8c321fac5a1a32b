package backendtest_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
	"github.com/qlora-studio/qlora-studio/trainer/backend/backendtest"
	"github.com/qlora-studio/qlora-studio/trainer/backend/cpu"
)

// broken is the float64 CPU backend with one mistake, the kind a new backend makes.
type broken struct {
	backend.Backend
	mistake string
}

// mistakes maps each mistake to the subtest of the suite that must catch it.
var mistakes = map[string]string{
	"gemm-ignores-beta":           "Gemm",
	"gemm-reads-c-at-beta-0":      "Gemm",
	"view-copies":                 "View",
	"rmsnorm-backward-overwrites": "RMSNorm",
	"rope-backward-turns-forward": "RoPE",
	"attention-ignores-window":    "Attention",
	"attention-ignores-segments":  "Attention",
	"attention-backward-no-dv":    "Attention",
	"swiglu-backward-skips-dup":   "SwiGLU",
	"dropout-other-stream":        "Dropout",
	"cross-entropy-counts-all":    "CrossEntropy",
	"gemm-loses-precision":        "Gemm",
}

func (b broken) Gemm(c, a, x backend.Tensor, transA, transB bool, m, n, k int, alpha, beta float64) {
	switch b.mistake {
	case "gemm-ignores-beta":
		beta = 0
	case "gemm-reads-c-at-beta-0":
		if beta == 0 {
			saved := b.New(c.Len())
			b.Copy(saved, c)
			b.Backend.Gemm(c, a, x, transA, transB, m, n, k, alpha, 0)
			b.Add(c, c, saved) // 0·c without the care: NaN + x
			return
		}
	case "gemm-loses-precision": // rounding more than it claims to
		b.Backend.Gemm(c, a, x, transA, transB, m, n, k, alpha, beta)
		buf := make([]float64, c.Len())
		b.Download(buf, c)
		for i := range buf {
			buf[i] = float64(float32(buf[i])) * (1 + 1e-6)
		}
		b.Upload(c, buf)
		return
	}
	b.Backend.Gemm(c, a, x, transA, transB, m, n, k, alpha, beta)
}

func (b broken) View(t backend.Tensor, offset, n int) backend.Tensor {
	v := b.Backend.View(t, offset, n)
	if b.mistake != "view-copies" {
		return v
	}
	c := b.New(n)
	b.Copy(c, v)
	return c
}

func (b broken) RMSNormBackward(dx, dout, x, weight, rstd backend.Tensor, n, c int) {
	if b.mistake == "rmsnorm-backward-overwrites" {
		b.Zero(dx)
	}
	b.Backend.RMSNormBackward(dx, dout, x, weight, rstd, n, c)
}

func (b broken) RoPEBackward(dx backend.Tensor, positions []int32, invFreq []float64, n, heads, headDim int) {
	if b.mistake == "rope-backward-turns-forward" {
		b.Backend.RoPE(dx, positions, invFreq, n, heads, headDim)
		return
	}
	b.Backend.RoPEBackward(dx, positions, invFreq, n, heads, headDim)
}

func (b broken) attentionMask(segments []int32, window int) ([]int32, int) {
	switch b.mistake {
	case "attention-ignores-window":
		window = 0
	case "attention-ignores-segments":
		segments = nil
	}
	return segments, window
}

func (b broken) Attention(out, lse, q, k, v backend.Tensor, segments []int32, bs, t, heads, kvHeads, headDim, window int) {
	segments, window = b.attentionMask(segments, window)
	b.Backend.Attention(out, lse, q, k, v, segments, bs, t, heads, kvHeads, headDim, window)
}

func (b broken) AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v backend.Tensor, segments []int32, bs, t, heads, kvHeads, headDim, window int) {
	segments, window = b.attentionMask(segments, window)
	if b.mistake == "attention-backward-no-dv" {
		dv = b.New(dv.Len())
	}
	b.Backend.AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v, segments, bs, t, heads, kvHeads, headDim, window)
}

func (b broken) SwiGLUBackward(dgate, dup, dout, gate, up backend.Tensor, n int) {
	if b.mistake == "swiglu-backward-skips-dup" {
		dup = b.New(n)
	}
	b.Backend.SwiGLUBackward(dgate, dup, dout, gate, up, n)
}

func (b broken) Dropout(out, x backend.Tensor, p float64, seed, stream uint64, n int) {
	if b.mistake == "dropout-other-stream" {
		stream++
	}
	b.Backend.Dropout(out, x, p, seed, stream, n)
}

func (b broken) CrossEntropy(losses, logits backend.Tensor, targets []int32, n, v int) {
	if b.mistake == "cross-entropy-counts-all" {
		counted := make([]int32, len(targets))
		for i, t := range targets {
			counted[i] = max(t, 0)
		}
		targets = counted
	}
	b.Backend.CrossEntropy(losses, logits, targets, n, v)
}

const mistakeEnv = "BACKENDTEST_MISTAKE"

// TestRun_CatchesMistakes ensures that the suite fails a backend with any one of the mistakes above,
// in the subtest of the op concerned. Each runs the suite in a child process (a failing subtest
// would fail this test otherwise); the child is this same test with the mistake in its
// environment.
func TestRun_CatchesMistakes(t *testing.T) {
	if mistake := os.Getenv(mistakeEnv); mistake != "" {
		backendtest.Run(t, func() backend.Backend { return broken{cpu.New[float64](), mistake} }, 1e-12)
		return
	}
	if testing.Short() {
		t.Skip("runs the suite once per mistake")
	}
	for mistake, op := range mistakes {
		t.Run(mistake, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestRun_CatchesMistakes$", "-test.count=1")
			cmd.Env = append(os.Environ(), mistakeEnv+"="+mistake)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a backend with %s", mistake)
			}
			if want := "--- FAIL: TestRun_CatchesMistakes/" + op + " "; !strings.Contains(string(out), want) {
				t.Fatalf("subtest %s did not fail:\n%s", op, out)
			}
			if strings.Contains(string(out), "panic:") {
				t.Fatalf("the suite crashed instead of failing:\n%s", out)
			}
		})
	}
}

// TestRun_PassesReference ensures that the unbroken wrapper passes, so that the failures above
// come from the mistakes.
func TestRun_PassesReference(t *testing.T) {
	backendtest.Run(t, func() backend.Backend { return broken{cpu.New[float64](), ""} }, 1e-12)
}

package optim

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
	"github.com/qlora-studio/qlora-studio/trainer/backend/cpu"
)

// The goldens come from scripts/optim_golden.py: torch (AdamW, LambdaLR, clip_grad_norm_) and an
// independent numpy implementation of bitsandbytes' 8-bit AdamW.

type adamWGolden struct {
	Schedules []struct {
		Type          string
		Base          float64
		Warmup, Total int
		LRs           []float64
	}
	Warmup []struct {
		Total, Steps, Want int
		Ratio              float64
	}
	Clip struct {
		Grads [][]float64
		Cases []struct {
			MaxNorm float64 `json:"max_norm"`
			Norm    float64
			Clipped [][]float64
		}
	}
	AdamW struct {
		LR            float64
		Warmup, Total int
		Betas         [2]float64
		Eps           float64
		WeightDecay   map[string]float64 `json:"weight_decay"`
		Init          map[string][]float64
		Grads         []map[string][]float64
		StepLRs       []float64              `json:"step_lrs"`
		Float32       []map[string][]float64 `json:"float32"`
		Float64       []map[string][]float64 `json:"float64"`
	}
}

type adamW8bitGolden struct {
	Sizes         [2]int
	LR            float64
	Warmup, Total int
	Betas         [2]float64
	Eps           float64
	WeightDecay   float64   `json:"weight_decay"`
	StepLRs       []float64 `json:"step_lrs"`
	QMap1         b64       `json:"qmap1"`
	QMap2         b64       `json:"qmap2"`
	Init          b64
	Steps         []struct {
		Params, Code1, Code2, Absmax1, Absmax2 b64
	}
}

// b64 is a base64 array of little-endian float32 or bytes.
type b64 []byte

func (b *b64) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	*b = raw
	return err
}

func (b b64) float32s() []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func loadJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run scripts/optim_golden.py)", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func loadAdamWGolden(t *testing.T) *adamWGolden {
	var g adamWGolden
	loadJSON(t, "testdata/adamw_golden.json", &g)
	return &g
}

// backends are the two CPU backends the goldens are replayed on.
var backends = []struct {
	name string
	new  func() backend.Backend
}{{"float32", cpu.New[float32]}, {"float64", cpu.New[float64]}}

// relError is ‖got − want‖/‖want‖.
func relError(got, want []float64) float64 {
	var d, n float64
	for i := range want {
		d += (got[i] - want[i]) * (got[i] - want[i])
		n += want[i] * want[i]
	}
	if n == 0 {
		return math.Sqrt(d)
	}
	return math.Sqrt(d / n)
}

func upload(be backend.Backend, x []float64) backend.Tensor {
	t := be.New(len(x))
	be.Upload(t, x)
	return t
}

func download(be backend.Backend, t backend.Tensor) []float64 {
	x := make([]float64, t.Len())
	be.Download(x, t)
	return x
}

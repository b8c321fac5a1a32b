package run

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/optim"
	"github.com/qlora-studio/qlora-studio/trainer/plan"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// BenchShapes are the model shapes `qlora bench` knows, with real dimensions (config.json keys).
var BenchShapes = map[string]string{
	"cpu-small": `{"model_type":"llama","vocab_size":2048,"hidden_size":256,"intermediate_size":688,"num_hidden_layers":4,"num_attention_heads":8,"num_key_value_heads":4}`,
	"llama-1b":  `{"model_type":"llama","vocab_size":128256,"hidden_size":2048,"intermediate_size":8192,"num_hidden_layers":16,"num_attention_heads":32,"num_key_value_heads":8,"tie_word_embeddings":true}`,
	"llama-3b":  `{"model_type":"llama","vocab_size":128256,"hidden_size":3072,"intermediate_size":8192,"num_hidden_layers":28,"num_attention_heads":24,"num_key_value_heads":8,"tie_word_embeddings":true}`,
	"llama-8b":  `{"model_type":"llama","vocab_size":128256,"hidden_size":4096,"intermediate_size":14336,"num_hidden_layers":32,"num_attention_heads":32,"num_key_value_heads":8}`,
}

// BenchShapeNames lists the shapes, sorted.
func BenchShapeNames() []string {
	names := make([]string, 0, len(BenchShapes))
	for n := range BenchShapes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// BenchResult is what one benchmark measured.
type BenchResult struct {
	Shape          string  `json:"shape"`
	Backend        string  `json:"backend"`
	SeqLen         int     `json:"seq_len"`
	Steps          int     `json:"steps"`
	Parameters     int64   `json:"parameters"`
	StepSeconds    float64 `json:"step_s"` // mean over the measured steps, after one warm-up step
	TokensPerS     float64 `json:"tokens_per_s"`
	PeakBytes      int64   `json:"peak_bytes"`                // the backend's memory in use, or the process's peak RSS
	AllocatedBytes int64   `json:"allocated_bytes,omitempty"` // what the backend allocated, where it counts (the CPU)
	PlannedBytes   int64   `json:"planned_bytes"`             // what the planner says the run takes
	// With Profile: one more step, timed kernel by kernel, and its wall time (the difference is
	// the host's share: launches, waits, the optimizer's download of the norm).
	Kernels             []backend.KernelTime `json:"kernels,omitempty"`
	ProfiledStepSeconds float64              `json:"profiled_step_s,omitempty"`
}

// BenchSpec is what to benchmark: a shape of BenchShapes, tokens per step, measured steps (after
// one warm-up), and whether to profile one more step kernel by kernel.
type BenchSpec struct {
	Shape         string
	SeqLen, Steps int
	Profile       bool
}

// profiler is a backend that times its device work kernel by kernel (the CUDA backend).
type profiler interface {
	StartProfile()
	StopProfile() []backend.KernelTime
}

// Bench times LoRA training steps (forward, backward, clipping, AdamW) of a named shape with random
// weights: NF4 base, r 16 on all seven projections, gradient checkpointing, one sequence of seqLen.
func Bench(be backend.Backend, kind string, spec BenchSpec) (BenchResult, error) {
	shape, seqLen, steps := spec.Shape, spec.SeqLen, spec.Steps
	prof, canProfile := be.(profiler)
	if spec.Profile && !canProfile {
		return BenchResult{}, fmt.Errorf("bench --profile: the %s backend cannot time its kernels", be.Name())
	}
	js, ok := BenchShapes[shape]
	if !ok {
		return BenchResult{}, fmt.Errorf("no bench shape %q; the shapes are %s", shape, strings.Join(BenchShapeNames(), ", "))
	}
	cfg, err := model.ParseConfig([]byte(js), shape)
	if err != nil {
		return BenchResult{}, err
	}
	rc := Defaults()
	rc.MaxSeqLength, rc.LoRAR, rc.LoRAAlpha, rc.LoRADropout = seqLen, 16, 32, 0
	m, opt, err := benchModel(be, cfg, rc)
	if err != nil {
		return BenchResult{}, err
	}
	ids := make([]int32, seqLen)
	for i := range ids {
		ids[i] = int32((i*7919 + 13) % cfg.VocabSize)
	}
	batch := model.Sequence(ids)
	step := func(i int) {
		_, n, _ := m.Forward(batch, true, uint64(i))
		m.ZeroGrads()
		m.Backward(1 / float64(n))
		optim.ClipGradNorm(be, m.Grads(), 1)
		opt.Step(1e-4)
	}
	// finish waits for the device: the last optimizer step is queued, not done, when Step returns.
	one := make([]float64, 1)
	finish := func() { be.Download(one, be.View(m.Params(), 0, 1)) }
	step(0) // warm-up: sizes the arenas
	finish()
	start := time.Now()
	for i := 1; i <= steps; i++ {
		step(i)
	}
	finish()
	secs := time.Since(start).Seconds() / float64(steps)
	p, err := plan.Make(rc.PlanRequest(cfg, kind))
	if err != nil {
		return BenchResult{}, err
	}
	r := BenchResult{Shape: shape, Backend: be.Name(), SeqLen: seqLen, Steps: steps, Parameters: cfg.ParamCount(),
		StepSeconds: secs, TokensPerS: float64(seqLen) / secs, PeakBytes: peakMemory(be), AllocatedBytes: allocated(be),
		PlannedBytes: p.TotalBytes}
	if spec.Profile {
		start := time.Now()
		prof.StartProfile()
		step(steps + 1)
		r.Kernels = prof.StopProfile()
		r.ProfiledStepSeconds = time.Since(start).Seconds()
	}
	return r, nil
}

// benchModel builds the model from random in-memory weights, with its optimizer.
func benchModel(be backend.Backend, cfg *model.Config, rc Config) (*model.Model, optim.Optimizer, error) {
	w, err := model.BindWeights(cfg, randomCheckpoint(cfg))
	if err != nil {
		return nil, nil, err
	}
	s := &session{cfg: rc}
	m, err := model.New(be, cfg, w, model.Options{Base: model.BaseNF4, Blocksize: 64, DoubleQuant: true,
		Adapter: s.adapterConfig(), Seed: 1, GradientCheckpointing: true})
	if err != nil {
		return nil, nil, err
	}
	var segments []optim.Segment
	for _, p := range m.ParamTensors() {
		segments = append(segments, optim.Segment{Name: p.Name, Offset: p.Offset, Len: p.Len})
	}
	opt, err := optim.New(optim.AdamW32bit, be, m.Params(), m.Grads(), segments, optim.DefaultHyper())
	return m, opt, err
}

// memCheckpoint is a checkpoint held in memory: every tensor the model binds, BF16, filled on
// first use with small pseudo-random values (a hash of the position: fast, and the same every run).
type memCheckpoint struct {
	cfg *model.Config
}

func randomCheckpoint(cfg *model.Config) *memCheckpoint { return &memCheckpoint{cfg: cfg} }

func (c *memCheckpoint) shape(name string) ([]int, bool) {
	h, v := c.cfg.HiddenSize, c.cfg.VocabSize
	switch {
	case name == "model.embed_tokens.weight" || name == "lm_head.weight":
		return []int{v, h}, true
	case strings.HasSuffix(name, "norm.weight"):
		return []int{h}, true
	}
	for _, p := range c.cfg.ProjectionShapes() {
		if strings.HasSuffix(name, p.Name+".weight") {
			return p.Shape[:], true
		}
	}
	return nil, false
}

func (c *memCheckpoint) Info(name string) (safetensors.Info, bool) {
	shape, ok := c.shape(name)
	if !ok {
		return safetensors.Info{}, false
	}
	return safetensors.Info{Name: name, DType: safetensors.BF16, Shape: shape}, true
}

func (c *memCheckpoint) Tensor(name string) (safetensors.Tensor, error) {
	info, ok := c.Info(name)
	if !ok {
		return safetensors.Tensor{}, fmt.Errorf("no tensor %q", name)
	}
	n := info.NumElements()
	info.End = int64(2 * n)
	scale := 1 / math.Sqrt(float64(info.Shape[len(info.Shape)-1]))
	if len(info.Shape) == 1 {
		scale = 0 // norms: exactly one
	}
	return safetensors.Tensor{Info: info, File: "random", Data: fillBF16(n, scale, hashString(name))}, nil
}

// fillBF16 writes n values of about ±scale (1 when scale is 0) from a hash of (seed, index), in
// parallel.
func fillBF16(n int, scale float64, seed uint64) []byte {
	b := make([]byte, 2*n)
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				v := float32(1)
				if scale != 0 {
					x := splitmix(seed ^ uint64(i))
					v = float32((float64(x>>11)/(1<<53)*2 - 1) * scale * math.Sqrt(3))
				}
				binary.LittleEndian.PutUint16(b[2*i:], safetensors.Float32ToBF16(v))
			}
		}(w*n/workers, (w+1)*n/workers)
	}
	wg.Wait()
	return b
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func hashString(s string) uint64 {
	var h uint64 = 1469598103934665603
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return h
}

// allocated is the bytes the backend allocated, where it keeps count.
func allocated(be backend.Backend) int64 {
	if a, ok := be.(interface{ AllocatedBytes() int64 }); ok {
		return a.AllocatedBytes()
	}
	return 0
}

// peakMemory is the backend's memory in use when it can say (a GPU), else the process's peak
// resident memory (VmHWM).
func peakMemory(be backend.Backend) int64 {
	if m, ok := be.(interface{ MemoryInUse() int64 }); ok {
		return m.MemoryInUse()
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

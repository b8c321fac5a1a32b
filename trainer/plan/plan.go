package plan

import (
	"fmt"
	"strings"

	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/nf4"
)

// The backends the planner knows the storage of.
const (
	CPU  = "cpu"  // float32 everywhere
	CUDA = "cuda" // bf16 frozen weights and activations; fp32 adapters, gradients, optimizer states
)

// Request is everything the memory of a run depends on.
type Request struct {
	Model          *model.Config
	Backend        string // CPU or CUDA
	MicroBatchSize int
	SeqLen         int      // max_seq_length: every micro-batch is planned at full length
	LoRARank       int      // 0: no adapters
	LoRATargets    []string // short projection names: q_proj, ..., down_proj
	LoRADropout    bool
	Quantized      bool // NF4 base; else the base at 16 bits
	Blocksize      int
	DoubleQuant    bool
	Optim          string // adamw_32bit or adamw_8bit
	Checkpointing  bool
	FullTraining   bool // every weight trained in fp32 (CPU only); LoRA and quantization do not apply
}

// Component is one line of the breakdown. Exact components are what the backend allocates, to the
// byte; estimates are the parts a driver or allocator decides.
type Component struct {
	Name  string `json:"name"`
	Bytes int64  `json:"bytes"`
	Exact bool   `json:"exact"`
	Note  string `json:"note,omitempty"`
}

// Plan is the memory a run will take.
type Plan struct {
	Backend    string      `json:"backend"`
	Components []Component `json:"components"`
	TotalBytes int64       `json:"total_bytes"`
}

// Estimates of what the CUDA driver and allocator take beside our tensors.
const (
	cudaContextBytes     = 600 << 20 // the CUDA context and kernel images on a current driver
	cublasWorkspaceBytes = 32 << 20  // cublasSetWorkspace, as NVIDIA recommends for Hopper
	fragmentationShare   = 0.05      // allocator slack, as a share of the tensors' bytes
)

// Make plans the request.
func Make(r Request) (Plan, error) {
	if err := r.check(); err != nil {
		return Plan{}, err
	}
	frozen, act := r.elementBytes()
	p := Plan{Backend: r.Backend}
	add := func(name string, bytes int64, exact bool, note string) {
		p.Components = append(p.Components, Component{name, bytes, exact, note})
		p.TotalBytes += bytes
	}
	if r.FullTraining {
		params, segments := r.fullParams()
		add("weights (fp32, all trained)", 4*params, true, fmt.Sprintf("%d parameters", params))
		add("weight gradients (fp32)", 4*params, true, "")
		add("optimizer states ("+r.Optim+")", optimizerBytes(r.Optim, segments), true, "")
	} else {
		r.addLoRA(add, frozen)
	}
	n := r.MicroBatchSize * r.SeqLen
	chunk := r.Model.LossChunkRows(n)
	logits := int64(2 * chunk * r.Model.VocabSize)
	elems, fp32 := r.Model.ActivationElements(r.activationShape(), n)
	elements := int64(elems)
	actNote := "every layer's activations"
	if r.Checkpointing {
		actNote = "each layer's input, one layer recomputed at a time"
	}
	add("activations and backward buffers", (elements-logits)*act+int64(fp32)*4, r.Backend == CPU, actNote)
	add("logits and their gradient", logits*act, r.Backend == CPU, fmt.Sprintf("chunks of %d tokens × %d vocabulary × 2", chunk, r.Model.VocabSize))
	if r.Backend == CUDA {
		tensors := p.TotalBytes
		add("CUDA context", cudaContextBytes, false, "")
		add("cuBLAS workspace", cublasWorkspaceBytes, false, "")
		add("allocator fragmentation", int64(fragmentationShare*float64(tensors)), false, "5% of the tensors")
	}
	return p, nil
}

// addLoRA adds the frozen base and the adapters with their gradients and optimizer states.
func (r Request) addLoRA(add func(string, int64, bool, string), frozen int64) {
	base, constants, dense := r.baseBytes(frozen)
	if r.Quantized {
		add("base in NF4 (4-bit codes)", base, true, fmt.Sprintf("the seven projections of %d layers", r.Model.NumLayers))
		add("NF4 quantization constants", constants, true, quantNote(r))
	} else {
		add("base projections at 16 bits", base, true, "")
	}
	add("frozen embeddings, norms, lm_head, biases", dense, true, "")
	params, segments := r.adapterParams()
	add("LoRA adapters (fp32)", 4*params, true, fmt.Sprintf("%d parameters", params))
	add("adapter gradients (fp32)", 4*params, true, "")
	add("optimizer states ("+r.Optim+")", optimizerBytes(r.Optim, segments), true, "")
}

func (r Request) check() error {
	switch {
	case r.Model == nil:
		return fmt.Errorf("plan: no model configuration")
	case r.Backend != CPU && r.Backend != CUDA:
		return fmt.Errorf("plan: backend %q: want cpu or cuda", r.Backend)
	case r.MicroBatchSize < 1 || r.SeqLen < 1:
		return fmt.Errorf("plan: micro-batch %d of %d tokens", r.MicroBatchSize, r.SeqLen)
	case r.Optim != "adamw_32bit" && r.Optim != "adamw_8bit":
		return fmt.Errorf("plan: optimizer %q", r.Optim)
	case r.Quantized && !nf4.ValidBlocksize(r.Blocksize):
		return fmt.Errorf("plan: NF4 block size %d", r.Blocksize)
	case r.FullTraining && r.Quantized:
		return fmt.Errorf("plan: full-parameter training needs the base at full precision, not NF4")
	case r.FullTraining && r.Backend != CPU:
		return fmt.Errorf("plan: full-parameter training runs on the CPU backend only (the CUDA backend trains LoRA only)")
	}
	return nil
}

// elementBytes is the size of a frozen dense element and of an activation element on the backend.
func (r Request) elementBytes() (frozen, activation int64) {
	if r.Backend == CUDA {
		return 2, 2
	}
	return 4, 4
}

// baseBytes counts the projections (NF4 codes and constants, or dense) and the other frozen tensors.
func (r Request) baseBytes(frozen int64) (base, constants, dense int64) {
	c := r.Model
	for _, p := range c.ProjectionShapes() {
		n := p.Shape[0] * p.Shape[1]
		if r.Quantized {
			all := nf4.Bytes(n, r.Blocksize, r.DoubleQuant)
			codes := int64(n+1) / 2
			base += codes
			constants += all - codes
		} else {
			base += int64(n) * frozen
		}
		if p.Bias {
			dense += int64(p.Shape[0]) * frozen
		}
	}
	layers := int64(c.NumLayers)
	norms := 2 * int64(c.HiddenSize) * frozen // input_layernorm, post_attention_layernorm
	base, constants, dense = base*layers, constants*layers, (dense+norms)*layers
	embeddings := int64(c.VocabSize) * int64(c.HiddenSize)
	dense += (embeddings + int64(c.HiddenSize)) * frozen
	if !c.TieWordEmbeddings {
		dense += embeddings * frozen
	}
	return base, constants, dense
}

// adapterParams counts the adapter parameters and lists every A and B tensor's size, the
// optimizer's segments.
func (r Request) adapterParams() (int64, []int) {
	var total int64
	var segments []int
	ranks := r.activationShape().Ranks
	for l := 0; l < r.Model.NumLayers; l++ {
		for p, proj := range r.Model.ProjectionShapes() {
			if ranks[p] == 0 {
				continue
			}
			a, b := ranks[p]*proj.Shape[1], proj.Shape[0]*ranks[p]
			segments = append(segments, a, b)
			total += int64(a + b)
		}
	}
	return total, segments
}

// fullParams counts every weight of the model, all trained in full-parameter training, and lists
// each tensor's size: the optimizer's segments, in the model's arena order.
func (r Request) fullParams() (int64, []int) {
	var total int64
	var segments []int
	for _, w := range r.Model.WeightShapes() {
		segments = append(segments, w.Len())
		total += int64(w.Len())
	}
	return total, segments
}

// optimizerBytes counts AdamW's two moments: fp32, or bitsandbytes' 8-bit codes with one fp32
// absmax per block of 256 for tensors of 4096 elements or more (smaller ones stay fp32).
func optimizerBytes(optim string, segments []int) int64 {
	var total int64
	for _, n := range segments {
		if optim == "adamw_8bit" && n >= 4096 {
			total += 2 * (int64(n) + 4*int64((n+255)/256))
		} else {
			total += 8 * int64(n)
		}
	}
	return total
}

// activationShape is the model's activation layout for this request.
func (r Request) activationShape() model.ActivationShape {
	s := model.ActivationShape{Checkpointing: r.Checkpointing, Quantized: r.Quantized, Dropout: r.LoRADropout}
	if r.FullTraining {
		return model.ActivationShape{Checkpointing: r.Checkpointing}
	}
	if r.LoRARank == 0 {
		return s
	}
	for p, proj := range r.Model.ProjectionShapes() {
		for _, t := range r.LoRATargets {
			if strings.HasSuffix(proj.Name, "."+t) {
				s.Ranks[p] = r.LoRARank
			}
		}
	}
	return s
}

func quantNote(r Request) string {
	if r.DoubleQuant {
		return fmt.Sprintf("blocks of %d, double-quantized scales", r.Blocksize)
	}
	return fmt.Sprintf("blocks of %d, fp32 scales", r.Blocksize)
}

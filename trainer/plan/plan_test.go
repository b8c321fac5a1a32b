package plan

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/model"
)

func loadConfig(t *testing.T, file string) *model.Config {
	t.Helper()
	js, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	c, err := model.ParseConfig(js, file)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func component(t *testing.T, p Plan, name string) Component {
	t.Helper()
	for _, c := range p.Components {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no component %q in %+v", name, p.Components)
	return Component{}
}

// request65b is the QLoRA paper's 65B setup.
func request65b(t *testing.T) Request {
	return Request{Model: loadConfig(t, "llama-65b.json"), Backend: CUDA, MicroBatchSize: 1, SeqLen: 2048,
		LoRARank: 64, LoRATargets: []string{"q_proj", "k_proj", "v_proj", "o_proj"}, Quantized: true,
		Blocksize: 64, DoubleQuant: true, Optim: "adamw_8bit", Checkpointing: true}
}

// TestMake_ExactComponentsAgainstHandCounts ensures the exact lines equal counts made by hand from
// LLaMA-65B's published sizes.
func TestMake_ExactComponentsAgainstHandCounts(t *testing.T) {
	p, err := Make(request65b(t))
	if err != nil {
		t.Fatal(err)
	}
	const layers, h, inter, vocab = 80, 8192, 22016, 32000
	projParams := int64(layers) * (4*h*h + 3*h*inter)
	if got := component(t, p, "base in NF4 (4-bit codes)").Bytes; got != projParams/2 {
		t.Errorf("NF4 codes %d, want %d (half a byte per weight)", got, projParams/2)
	}
	// Double quantization: per projection one byte per block of 64, a float32 scale per 256 blocks,
	// the offset and the 256-entry map.
	perProjection := func(n int64) int64 { blocks := n / 64; return blocks + 4*((blocks+255)/256) + 4 + 1024 }
	wantConsts := int64(layers) * (4*perProjection(h*h) + 3*perProjection(h*inter))
	if got := component(t, p, "NF4 quantization constants").Bytes; got != wantConsts {
		t.Errorf("constants %d, want %d", got, wantConsts)
	}
	frozen := int64(2) * (2*vocab*h + h + layers*2*h)
	if got := component(t, p, "frozen embeddings, norms, lm_head, biases").Bytes; got != frozen {
		t.Errorf("frozen %d, want %d", got, frozen)
	}
	lora := int64(layers) * 4 * 64 * (h + h)
	if got := component(t, p, "LoRA adapters (fp32)").Bytes; got != 4*lora {
		t.Errorf("adapters %d, want %d", got, 4*lora)
	}
	// Every A (64×8192) and B (8192×64) has 524288 elements: 8-bit codes twice, absmax per 256.
	seg := int64(64 * h)
	if got := component(t, p, "optimizer states (adamw_8bit)").Bytes; got != int64(layers)*4*2*2*(seg+4*seg/256) {
		t.Errorf("8-bit states %d", got)
	}
	total := int64(0)
	for _, c := range p.Components {
		total += c.Bytes
	}
	if total != p.TotalBytes {
		t.Errorf("total %d, components add to %d", p.TotalBytes, total)
	}
}

// TestMake_CheckpointingSavesMemory ensures gradient checkpointing and 8-bit states shrink the plan,
// and a longer sequence grows it.
func TestMake_CheckpointingSavesMemory(t *testing.T) {
	r := request65b(t)
	base, _ := Make(r)
	r.Checkpointing = false
	full, _ := Make(r)
	r = request65b(t)
	r.Optim = "adamw_32bit"
	fp32, _ := Make(r)
	r = request65b(t)
	r.SeqLen = 4096
	long, _ := Make(r)
	if !(full.TotalBytes > base.TotalBytes && fp32.TotalBytes > base.TotalBytes && long.TotalBytes > base.TotalBytes) {
		t.Errorf("checkpointing %d, without %d, fp32 states %d, 4096 tokens %d", base.TotalBytes, full.TotalBytes, fp32.TotalBytes, long.TotalBytes)
	}
}

// TestLargest_FitsAtAnswerNotAbove ensures "make it fit" answers fit and one step more does not,
// and that the length stops at the model's context.
func TestLargest_FitsAtAnswerNotAbove(t *testing.T) {
	const memory = int64(48) << 30
	r := request65b(t)
	if seq, err := LargestSeqLen(r, memory); err != nil || seq != r.Model.MaxPositionEmbeddings {
		t.Errorf("largest length %d (%v), want LLaMA-65B's context, %d, which fits", seq, err, r.Model.MaxPositionEmbeddings)
	}
	model := *r.Model
	model.MaxPositionEmbeddings = 1 << 20 // a long-context model: the memory sets the length
	r.Model = &model
	seq, err := LargestSeqLen(r, memory)
	if err != nil || seq < 2048 {
		t.Fatalf("largest length %d, %v", seq, err)
	}
	r.SeqLen = seq
	if p, _ := Make(r); !p.Fits(memory) {
		t.Errorf("length %d does not fit", seq)
	}
	r.SeqLen = seq + 1
	if p, _ := Make(r); p.Fits(memory) {
		t.Errorf("length %d fits too", seq+1)
	}
	r = request65b(t)
	mb, err := LargestMicroBatch(r, memory)
	if err != nil || mb < 1 {
		t.Fatalf("largest micro-batch %d, %v", mb, err)
	}
	r.MicroBatchSize = mb + 1
	if p, _ := Make(r); p.Fits(memory) {
		t.Errorf("micro-batch %d fits too", mb+1)
	}
	if n, _ := LargestSeqLen(request65b(t), 1<<30); n != 0 {
		t.Errorf("a 65B model in 1 GiB: length %d", n)
	}
}

// TestAgainst_Verdict ensures a report carries the plan, the verdict and spare bytes against the
// memory, and the largest length and micro-batch that fit there.
func TestAgainst_Verdict(t *testing.T) {
	r := request65b(t)
	for _, memory := range []int64{48 << 30, 24 << 30} {
		rep, err := Against(r, memory)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := Make(r)
		seq, _ := LargestSeqLen(r, memory)
		mb, _ := LargestMicroBatch(r, memory)
		if !reflect.DeepEqual(rep.Plan, p) || rep.MemoryBytes != memory || rep.Fits != p.Fits(memory) ||
			rep.SpareBytes != memory-p.TotalBytes || rep.LargestSeqLen != seq || rep.LargestMicroBatch != mb {
			t.Errorf("%d bytes: report %+v", memory, rep)
		}
		if rep.Fits != (memory == 48<<30) {
			t.Errorf("%d bytes: fits %v", memory, rep.Fits)
		}
	}
	if _, err := Against(Request{}, 48<<30); err == nil {
		t.Error("a request without a model was judged")
	}
}

// TestMake_Refusals ensures a request the planner cannot plan says why.
func TestMake_Refusals(t *testing.T) {
	r := request65b(t)
	r.Backend = "tpu"
	if _, err := Make(r); err == nil {
		t.Error("backend tpu planned")
	}
	r = request65b(t)
	r.Blocksize = 48
	if _, err := Make(r); err == nil {
		t.Error("block size 48 planned")
	}
}

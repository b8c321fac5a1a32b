package export

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/qlora-studio/qlora-studio/trainer/nf4"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// quantization is how projections are (or were) quantized to NF4.
type quantization struct {
	blocksize int
	double    bool
}

// weightsPlan says what an export writes for the tensors of a base model. The three exports of a
// model are points in one space: the bitsandbytes checkpoint of `qlora quantize` quantizes the
// base as it is; the merged model merges an adapter and writes 16/32-bit weights; the 4-bit merged
// model merges, then quantizes.
type weightsPlan struct {
	base    *base
	adapter *adapterFile // nil: nothing to merge
	dtype   safetensors.DType

	// mergeNF4 merges into the base as the QLoRA trainer saw it: a 16-bit projection quantized
	// with baseQuant and dequantized, a pre-quantized one dequantized.
	mergeNF4  bool
	baseQuant quantization

	// quantize, when set, stores the projections in the bitsandbytes NF4 layout.
	quantize *quantization

	scratch scratch
}

// entry is one tensor of the base and what the export writes for it.
type entry struct {
	size int64 // bytes in the output: shard planning and the disk-space check

	// sources produces what the output stores for the tensor. When eager is set it does the work
	// itself (quantization needs the whole tensor, and the shard's header its exact sizes);
	// otherwise the work happens when the writer asks for each source's data.
	sources func(ctx context.Context) ([]safetensors.Source, error)
	eager   bool
}

// entries lists what to write for every tensor of the base, in the base's name order. The
// bitsandbytes state of a pre-quantized projection is replaced by the projection's own entry.
func (w *weightsPlan) entries() []entry {
	var out []entry
	for _, name := range w.base.ckpt.Names() {
		if w.base.skipped(name) {
			continue
		}
		if p := w.base.projections[name]; p != nil {
			out = append(out, w.projectionEntry(p))
		} else {
			info, _ := w.base.ckpt.Info(name)
			out = append(out, w.plainEntry(info))
		}
	}
	return out
}

// outDType is what a float tensor of dtype d becomes.
func (w *weightsPlan) outDType(d safetensors.DType) safetensors.DType {
	if w.dtype == "" || !isFloat(d) {
		return d
	}
	return w.dtype
}

// plainEntry copies a tensor that is not a projection (embeddings, norms, biases), converted to
// the output dtype. An unconverted one goes out straight from the mapping, costing no memory.
func (w *weightsPlan) plainEntry(info safetensors.Info) entry {
	dtype := w.outDType(info.DType)
	n := product(info.Shape)
	e := entry{size: int64(n * dtype.Size())}
	e.sources = func(ctx context.Context) ([]safetensors.Source, error) {
		return []safetensors.Source{{Name: info.Name, DType: dtype, Shape: info.Shape, Data: func() ([]byte, error) {
			t, err := w.base.ckpt.Tensor(info.Name)
			if err != nil || dtype == t.DType {
				return t.Data, err
			}
			buf := w.scratch.byteBuf(n * dtype.Size())
			return buf, (&merged{n: n, base: denseReader(t)}).encode(ctx, dtype, buf)
		}}}, nil
	}
	return e
}

// projectionEntry writes a projection merged with its adapter module (if any), as 16/32-bit
// weights or quantized to NF4.
func (w *weightsPlan) projectionEntry(p *projection) entry {
	n := p.shape[0] * p.shape[1]
	name := p.prefix + ".weight"
	if q := w.quantize; q != nil {
		return entry{size: nf4Bytes(p.shape, *q), eager: true,
			sources: func(ctx context.Context) ([]safetensors.Source, error) { return w.quantized(ctx, p, *q) }}
	}
	dtype := w.dtype
	if dtype == "" { // keep the stored dtype (pre-quantized projections have none: take the base's)
		if info, ok := w.base.ckpt.Info(name); ok && !p.nf4 {
			dtype = info.DType
		} else {
			dtype, _ = ParseDType(w.base.dtype())
		}
	}
	e := entry{size: int64(n * dtype.Size())}
	e.sources = func(ctx context.Context) ([]safetensors.Source, error) {
		return []safetensors.Source{{Name: name, DType: dtype, Shape: []int{p.shape[0], p.shape[1]}, Data: func() ([]byte, error) {
			m, err := w.merged(p)
			if err != nil {
				return nil, err
			}
			buf := w.scratch.byteBuf(n * dtype.Size())
			return buf, m.encode(ctx, dtype, buf)
		}}}, nil
	}
	return e
}

// quantized merges a projection and quantizes the result to NF4.
func (w *weightsPlan) quantized(ctx context.Context, p *projection, q quantization) ([]safetensors.Source, error) {
	m, err := w.merged(p)
	if err != nil {
		return nil, err
	}
	f := w.scratch.floatBuf(m.n)
	if err := m.floats(ctx, f); err != nil {
		return nil, err
	}
	packed, err := nf4.Quantize(f, p.shape[:], q.blocksize, q.double)
	if err != nil {
		return nil, fmt.Errorf("%s: tensor %q: %w", w.base.dir, p.prefix+".weight", err)
	}
	dtype := torchNames[w.dtype]
	if dtype == "" {
		dtype = w.base.dtype()
	}
	return nf4.Tensors(p.prefix, packed, dtype), nil
}

// merged prepares the computation of one projection's output weight: its base weight as the plan
// reads it, and its adapter module.
func (w *weightsPlan) merged(p *projection) (*merged, error) {
	read, err := w.baseWeight(p)
	if err != nil {
		return nil, err
	}
	m := &merged{n: p.shape[0] * p.shape[1], in: p.shape[1], base: read}
	if w.adapter != nil {
		if m.lora, err = w.adapter.module(p.layer, p.module); err != nil {
			return nil, err
		}
		m.scaling = w.adapter.cfg.Scaling()
	}
	return m, nil
}

// baseWeight is the projection's W: as stored, or NF4-dequantized for a merge into the NF4 base.
func (w *weightsPlan) baseWeight(p *projection) (weightReader, error) {
	if p.nf4 {
		q, err := w.base.readNF4(p)
		if err != nil {
			return nil, err
		}
		return nf4Reader(q), nil
	}
	t, err := w.base.ckpt.Tensor(p.prefix + ".weight")
	if err != nil {
		return nil, err
	}
	if !w.mergeNF4 {
		return denseReader(t), nil
	}
	// Quantized exactly as model.New does for a QLoRA run, so the dequantized weight is the one
	// the adapter was trained against.
	f := w.scratch.floatBuf(p.shape[0] * p.shape[1])
	denseReader(t)(f, 0)
	q, err := nf4.Quantize(f, p.shape[:], w.baseQuant.blocksize, w.baseQuant.double)
	if err != nil {
		return nil, fmt.Errorf("%s: tensor %q: %w", w.base.dir, p.prefix+".weight", err)
	}
	return nf4Reader(q), nil
}

// writeWeights writes the entries into dir as model.safetensors, or as shards of at most maxShard
// bytes with model.safetensors.index.json. progress, when set, hears after each tensor how many of
// all are done. A cancelled ctx stops it between tensors and inside the merge of one.
func writeWeights(ctx context.Context, dir string, entries []entry, maxShard int64, progress func(done, total int)) error {
	sizes := make([]int64, len(entries))
	for i, e := range entries {
		sizes[i] = e.size
	}
	groups := safetensors.PlanShards(sizes, maxShard)
	files := safetensors.ShardNames("model", len(groups))
	weightMap := map[string]string{}
	var total int64
	done := 0
	tick := func() {
		done++
		if progress != nil {
			progress(done, len(entries))
		}
	}
	for g, group := range groups {
		var sources []safetensors.Source
		for _, i := range group {
			if err := ctx.Err(); err != nil {
				return err
			}
			part, err := entries[i].sources(ctx)
			if err != nil {
				return err
			}
			if entries[i].eager {
				tick()
			} else {
				part = tickAfterLast(ctx, part, tick)
			}
			sources = append(sources, part...)
		}
		for _, s := range sources {
			weightMap[s.Name] = files[g]
			total += int64(s.DType.Size() * product(s.Shape))
		}
		if err := safetensors.WriteFile(filepath.Join(dir, files[g]), map[string]string{"format": "pt"}, sources); err != nil {
			return err
		}
	}
	if len(groups) == 1 {
		return nil
	}
	return safetensors.WriteIndex(filepath.Join(dir, safetensors.IndexName), weightMap, total)
}

// tickAfterLast wraps an entry's sources so that a cancellation is noticed before each and tick
// runs once the writer has taken the data of all of them.
func tickAfterLast(ctx context.Context, sources []safetensors.Source, tick func()) []safetensors.Source {
	left := len(sources)
	out := make([]safetensors.Source, len(sources))
	for i, s := range sources {
		data := s.Data
		s.Data = func() ([]byte, error) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			b, err := data()
			if left--; err == nil && left == 0 {
				tick()
			}
			return b, err
		}
		out[i] = s
	}
	return out
}

// nf4Bytes bounds the bytes of the tensors bitsandbytes stores for one quantized weight, for planning
// shards before quantizing: the weight's own bytes, its quant_map, and room for the quant_state JSON.
func nf4Bytes(shape [2]int, q quantization) int64 {
	return nf4.Bytes(shape[0]*shape[1], q.blocksize, q.double) + 16*4 + 256
}

// estimate is the bytes the entries will take on disk, headers included.
func estimate(entries []entry) int64 {
	total := int64(64 << 10)
	for _, e := range entries {
		total += e.size + 256 // the tensor's header entry
	}
	return total
}

func product(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

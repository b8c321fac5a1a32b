package model

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// Summary describes a model folder: what `qlora inspect` prints and the library records.
type Summary struct {
	Path             string           `json:"path"`
	Architecture     string           `json:"architecture"`
	Layers           int              `json:"layers"`
	HiddenSize       int              `json:"hidden_size"`
	IntermediateSize int              `json:"intermediate_size"`
	Heads            int              `json:"heads"`
	KVHeads          int              `json:"kv_heads"`
	HeadDim          int              `json:"head_dim"`
	VocabSize        int              `json:"vocab_size"`
	Context          int              `json:"context"`
	RopeScaling      string           `json:"rope_scaling"`
	SlidingWindow    int              `json:"sliding_window,omitempty"`
	TiedEmbeddings   bool             `json:"tied_embeddings"`
	Parameters       int64            `json:"parameters"`
	Bytes            int64            `json:"bytes"`       // tensor data in the safetensors files
	DTypes           map[string]int64 `json:"dtype_bytes"` // tensor bytes per stored dtype
	Files            int              `json:"files"`
	Quantization     string           `json:"quantization,omitempty"` // e.g. "bitsandbytes nf4, double quant, blocksize 64"
}

// Inspect reads dir's config and tensor headers, binds every weight the model needs (so a broken
// checkpoint is reported here, not at training time) and summarises the result.
func Inspect(dir string) (*Summary, error) {
	cfg, ckpt, w, err := Open(dir)
	if err != nil {
		return nil, err
	}
	defer ckpt.Close()
	s := &Summary{
		Path: dir, Architecture: cfg.Architecture, Layers: cfg.NumLayers, HiddenSize: cfg.HiddenSize,
		IntermediateSize: cfg.IntermediateSize, Heads: cfg.NumHeads, KVHeads: cfg.NumKVHeads,
		HeadDim: cfg.HeadDim, VocabSize: cfg.VocabSize, Context: cfg.MaxPositionEmbeddings,
		RopeScaling: cfg.RopeScaling.String(), SlidingWindow: cfg.SlidingWindow,
		TiedEmbeddings: cfg.TieWordEmbeddings, Parameters: cfg.ParamCount(),
		DTypes: map[string]int64{}, Files: len(ckpt.Files),
	}
	for _, name := range ckpt.Names() {
		info, _ := ckpt.Info(name)
		s.Bytes += info.End - info.Begin
		s.DTypes[string(info.DType)] += info.End - info.Begin
	}
	if q := w.Layers[0].Projections[0].NF4; q != nil {
		s.Quantization = fmt.Sprintf("bitsandbytes nf4, blocksize %d", q.Blocksize)
		if q.Double != nil {
			s.Quantization += ", double quant"
		}
	}
	return s, nil
}

// WriteText prints the summary for people.
func (s *Summary) WriteText(w io.Writer) {
	fmt.Fprintf(w, "%s\n", s.Path)
	fmt.Fprintf(w, "  architecture   %s, %d layers, hidden %d, MLP %d\n", s.Architecture, s.Layers, s.HiddenSize, s.IntermediateSize)
	fmt.Fprintf(w, "  attention      %d heads, %d key/value heads, head dim %d", s.Heads, s.KVHeads, s.HeadDim)
	if s.SlidingWindow > 0 {
		fmt.Fprintf(w, ", sliding window %d", s.SlidingWindow)
	}
	fmt.Fprintf(w, "\n  vocabulary     %d tokens, context %d, rope %s", s.VocabSize, s.Context, s.RopeScaling)
	if s.TiedEmbeddings {
		fmt.Fprint(w, ", tied embeddings")
	}
	fmt.Fprintf(w, "\n  parameters     %s (%d)\n", humanCount(s.Parameters), s.Parameters)
	fmt.Fprintf(w, "  stored         %s in %d file(s): %s\n", humanBytes(s.Bytes), s.Files, dtypeList(s.DTypes))
	if s.Quantization != "" {
		fmt.Fprintf(w, "  pre-quantized  %s\n", s.Quantization)
	} else {
		fmt.Fprintf(w, "  pre-quantized  no\n")
	}
}

func dtypeList(m map[string]int64) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return m[names[i]] > m[names[j]] })
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %s", n, humanBytes(m[n]))
	}
	return strings.Join(parts, ", ")
}

func humanCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

package model

import (
	"errors"
	"math/big"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseConfig ensures ParseConfig never panics, that every refusal is a *ConfigError naming the
// file, and that every config it accepts holds the invariants the model code relies on. The committed
// corpus under testdata/fuzz/FuzzParseConfig holds the testdata configs and a few edge cases.
func FuzzParseConfig(f *testing.F) {
	for _, tc := range testdataConfigs {
		f.Add(readTestdata(f, tc.dir))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const path = "fuzz/config.json"
		c, err := ParseConfig(data, path)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Path != path || !strings.HasPrefix(err.Error(), path+": ") {
				t.Fatalf("refusal %q is not a *ConfigError naming the file", err)
			}
			return
		}
		checkInvariants(t, c)
		again, err := ParseConfig(data, path)
		if err != nil || !reflect.DeepEqual(c, again) {
			t.Fatalf("a second parse differs: %+v, %v", again, err)
		}
	})
}

// checkInvariants restates, independently of Validate, what an accepted Config promises.
func checkInvariants(t *testing.T, c *Config) {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatalf("accepted config fails Validate: %v", err)
	}
	if _, ok := archDefaults[c.Architecture]; !ok || c.HiddenAct != "silu" {
		t.Fatalf("architecture %q, activation %q", c.Architecture, c.HiddenAct)
	}
	for _, n := range []int{c.VocabSize, c.HiddenSize, c.IntermediateSize, c.NumLayers, c.NumHeads,
		c.NumKVHeads, c.HeadDim, c.MaxPositionEmbeddings} {
		if n <= 0 {
			t.Fatalf("non-positive size in %+v", c)
		}
	}
	if c.NumHeads%c.NumKVHeads != 0 || c.HeadDim%2 != 0 || c.QDim() != c.NumHeads*c.HeadDim ||
		c.KVDim() != c.NumKVHeads*c.HeadDim || c.KVDim() > c.QDim() {
		t.Fatalf("attention shape: heads %d, kv heads %d, head dim %d", c.NumHeads, c.NumKVHeads, c.HeadDim)
	}
	if !(c.RMSNormEps > 0) || !(c.RopeTheta > 0) || c.SlidingWindow < 0 || c.FullAttentionLayers < 0 {
		t.Fatalf("eps %v, theta %v, window %d from layer %d", c.RMSNormEps, c.RopeTheta, c.SlidingWindow, c.FullAttentionLayers)
	}
	if s := c.RopeScaling; s != nil && (s.Type != "llama3" || !(s.Factor > 0) || !(s.LowFreqFactor > 0) ||
		!(s.HighFreqFactor > s.LowFreqFactor) || s.OriginalMaxPositionEmbeddings <= 0) {
		t.Fatalf("rope scaling %v", s)
	}
	if q := c.Quantization; q != nil && (q.Method != "bitsandbytes" || !q.LoadIn4Bit || q.QuantType != "nf4" ||
		q.QuantStorage != "uint8") {
		t.Fatalf("quantization %+v", q)
	}
	for _, id := range append([]int{c.BOSTokenID}, c.EOSTokenIDs...) {
		if id != NoToken && (id < 0 || id >= c.VocabSize) {
			t.Fatalf("token id %d outside vocabulary %d", id, c.VocabSize)
		}
	}
	if want := exactParamCount(c); want.Cmp(big.NewInt(c.ParamCount())) != 0 {
		t.Fatalf("ParamCount() = %d, exact count %v", c.ParamCount(), want)
	}
}

// exactParamCount counts parameters in arbitrary precision from the sizes alone, so an overflow in
// ParamCount or a slip in ProjectionShapes shows.
func exactParamCount(c *Config) *big.Int {
	n := func(x int) *big.Int { return big.NewInt(int64(x)) }
	mul := func(a, b *big.Int) *big.Int { return new(big.Int).Mul(a, b) }
	h, q, kv, m := n(c.HiddenSize), n(c.NumHeads*c.HeadDim), n(c.NumKVHeads*c.HeadDim), n(c.IntermediateSize)
	layer := new(big.Int).Add(mul(big.NewInt(2), mul(q, h)), mul(big.NewInt(2), mul(kv, h)))
	layer.Add(layer, mul(big.NewInt(3), mul(m, h)))
	layer.Add(layer, mul(big.NewInt(2), h))
	if c.AttentionBias {
		layer.Add(layer, new(big.Int).Add(q, mul(big.NewInt(2), kv)))
	}
	if c.OProjBias {
		layer.Add(layer, h)
	}
	if c.MLPBias {
		layer.Add(layer, new(big.Int).Add(mul(big.NewInt(2), m), h))
	}
	embeddings := mul(n(c.VocabSize), h)
	total := new(big.Int).Add(mul(n(c.NumLayers), layer), embeddings)
	total.Add(total, h)
	if !c.TieWordEmbeddings {
		total.Add(total, embeddings)
	}
	return total
}

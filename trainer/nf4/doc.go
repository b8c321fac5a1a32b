// Package nf4 quantizes weights to 4-bit NormalFloat (NF4) exactly as
// bitsandbytes does, double-quantizes the block scales, and reads and writes
// the bitsandbytes 4-bit safetensors layout that transformers saves and loads.
//
// # Basics
//
// A weight of shape [out, in] is flattened in row-major order and cut into
// blocks of Blocksize consecutive elements (64 unless configured; blocks
// cross row boundaries and the last one may be partial). Each block keeps its
// absolute maximum as a float32 scale; each element becomes the index of the
// nearest of the 16 NF4 code values after multiplication by 1/absmax, two
// indices per byte with the first element in the high nibble. Quantize does
// this, Dequantize and DequantizeRange undo it.
//
// With double quantization the scales themselves are stored as 8-bit codes of
// bitsandbytes' signed dynamic map, in blocks of 256, around their mean
// (DoubleQuant). That takes the overhead from 0.5 to about 0.127 bits per
// weight.
//
// The rounding decisions are those of bitsandbytes' CUDA kernels
// (dQuantizeNF4's decision tree on float32 thresholds, dQuantize's binary
// search with midpoint rounding), so a checkpoint quantized here has the same
// packed codes and scales as one quantized by bitsandbytes; the tests compare
// against goldens written by scripts/nf4_reference.py, an independent
// implementation. The remaining differences are listed in Caveats.
//
// Tensors, Read and Stored handle the safetensors layout transformers saves
// for a 4-bit Linear (P.weight, P.weight.absmax, P.weight.quant_map, ...);
// NewQuantizationConfig gives the quantization_config block of config.json.
//
// # What this package must not do
//
// It holds no model knowledge (which projections to quantize is the caller's
// choice), starts no goroutines (callers parallelize across tensors), does no
// file I/O of its own (the layout functions take and return safetensors
// values) and never changes results with the number of cores.
//
// # Caveats
//
//   - bitsandbytes is built with --use_fast_math, so on a GPU 1/absmax is the
//     hardware's approximate reciprocal; here it is the correctly rounded
//     float32 reciprocal. An element within one float32 ulp of an NF4
//     threshold can therefore get the neighbouring code on a GPU. Blocks whose
//     absmax is a power of two are unaffected (the reciprocal is exact).
//   - The double-quantization offset is the mean of the absmax values summed
//     in float64 in index order and rounded once to float32. bitsandbytes
//     sums in float32 on the GPU, so its nested_offset can differ in the last
//     bit and, rarely, an 8-bit scale code can sit on the other side of a tie.
//   - For an odd element count the unused low nibble of the last byte is 0;
//     bitsandbytes' CUDA kernel leaves the code of a padding 0.0 there (7).
//     No reader looks at that nibble.
//   - The dynamic map's entries depend in the last bit on how torch computed
//     linspace; DynamicMap reproduces the table torch on x86-64 produces, and
//     Read keeps whatever table a file stores, so decoding is exact either way.
package nf4

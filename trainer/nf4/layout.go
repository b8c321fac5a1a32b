package nf4

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/qlora-studio/qlora-studio/internal/pyfloat"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// The tensors bitsandbytes' Linear4bit saves for a module P (transformers'
// state dict of a 4-bit model), after the P.weight they describe.
const (
	keyWeight         = ".weight"
	keyAbsmax         = ".weight.absmax"
	keyQuantMap       = ".weight.quant_map"
	keyNestedAbsmax   = ".weight.nested_absmax"
	keyNestedQuantMap = ".weight.nested_quant_map"
	keyQuantState     = ".weight.quant_state.bitsandbytes__nf4"
	keyQuantStateFP4  = ".weight.quant_state.bitsandbytes__fp4"
)

// TensorReader is what Read needs from a checkpoint; *safetensors.File and
// *safetensors.Dir both provide it.
type TensorReader interface {
	Tensor(name string) (safetensors.Tensor, error)
	Info(name string) (safetensors.Info, bool)
}

// computeDTypes are the torch dtype names a quant_state may record as the
// weight's original dtype.
var computeDTypes = map[string]bool{"bfloat16": true, "float16": true, "float32": true}

// modulePrefix accepts "model.layers.0.mlp.up_proj" with or without a
// trailing dot.
func modulePrefix(module string) string { return strings.TrimSuffix(module, ".") }

// Tensors returns the tensors that store q for the Linear module (for example
// "model.layers.0.self_attn.q_proj") exactly as bitsandbytes serializes a
// Linear4bit: P.weight U8 [(n+1)/2, 1]; P.weight.absmax (U8 codes when
// double-quantized, else F32); P.weight.quant_map F32[16]; for double
// quantization P.weight.nested_absmax F32 and P.weight.nested_quant_map
// F32[256]; and P.weight.quant_state.bitsandbytes__nf4, the UTF-8 bytes of
// the JSON Python's json.dumps writes. dtype is the torch name of the
// weight's dtype before quantization ("bfloat16", "float16" or "float32").
// The bias, if any, is an ordinary tensor and not included.
//
// The sources reference q's slices; do not change q before they are written.
// An inconsistent q or an unknown dtype is a programming error and panics.
func Tensors(module string, q *Quantized, dtype string) []safetensors.Source {
	if err := q.Validate(); err != nil {
		panic(fmt.Sprintf("nf4.Tensors(%q): %v", module, err))
	}
	if !computeDTypes[dtype] {
		panic(fmt.Sprintf("nf4.Tensors(%q): dtype %q is not bfloat16, float16 or float32", module, dtype))
	}
	p := modulePrefix(module)
	nb := q.NumBlocks()
	state := quantStateJSON(q, dtype)
	out := []safetensors.Source{
		safetensors.Bytes(p+keyWeight, safetensors.U8, []int{len(q.Packed), 1}, q.Packed),
		floatSource(p+keyQuantMap, nf4Code[:]),
		safetensors.Bytes(p+keyQuantState, safetensors.U8, []int{len(state)}, state),
	}
	if q.Double == nil {
		return append(out, floatSource(p+keyAbsmax, q.Absmax))
	}
	d := q.Double
	return append(out,
		safetensors.Bytes(p+keyAbsmax, safetensors.U8, []int{nb}, d.Codes),
		floatSource(p+keyNestedAbsmax, d.NestedAbsmax),
		floatSource(p+keyNestedQuantMap, d.Map[:]),
	)
}

// floatSource encodes v only when the writer asks for it.
func floatSource(name string, v []float32) safetensors.Source {
	return safetensors.Source{Name: name, DType: safetensors.F32, Shape: []int{len(v)},
		Data: func() ([]byte, error) { return safetensors.EncodeFloat32s(v), nil }}
}

// quantStateJSON writes QuantState.as_dict(packed=True)'s non-tensor part
// as json.dumps does: this key order, ", " and ": " separators, the offset as
// Python's repr of the float32 widened to float64.
func quantStateJSON(q *Quantized, dtype string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"quant_type": "nf4", "blocksize": %d, "dtype": %q, "shape": [`, q.Blocksize, dtype)
	for i, d := range q.Shape {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(d))
	}
	b.WriteString("]")
	if d := q.Double; d != nil {
		fmt.Fprintf(&b, `, "nested_blocksize": %d, "nested_dtype": "float32", "nested_offset": %s`,
			d.Blocksize, pyfloat.Repr(float64(d.Offset)))
	}
	b.WriteString("}")
	return []byte(b.String())
}

// Stored reports whether the checkpoint holds module's weight in
// bitsandbytes 4-bit form (NF4 or FP4; Read accepts only NF4), judged by its
// quant_state tensor.
func Stored(src TensorReader, module string) bool {
	p := modulePrefix(module)
	_, nf4 := src.Info(p + keyQuantState)
	_, fp4 := src.Info(p + keyQuantStateFP4)
	return nf4 || fp4
}

// Read loads the 4-bit weight of module from a checkpoint in the layout
// Tensors writes (and transformers saves), checking every tensor's dtype and
// shape against the quant_state. It returns the weight, whose slices are
// copies that outlive the file, and the dtype the quant_state records. Every
// problem is an error wrapping ErrLayout that names the tensor.
func Read(src TensorReader, module string) (*Quantized, string, error) {
	p := modulePrefix(module)
	if _, fp4 := src.Info(p + keyQuantStateFP4); fp4 {
		return nil, "", layoutError(p+keyQuantStateFP4, "quant type fp4 is not supported, only nf4")
	}
	st, err := readQuantState(src, p+keyQuantState)
	if err != nil {
		return nil, "", err
	}
	q := &Quantized{Shape: st.Shape, Blocksize: st.Blocksize}
	n := q.Len()
	if q.Packed, err = readBytes(src, p+keyWeight, (n+1)/2, true); err != nil {
		return nil, "", err
	}
	if err := checkQuantMap(src, p+keyQuantMap); err != nil {
		return nil, "", err
	}
	if st.nested() {
		q.Double, err = readDouble(src, p, st, q.NumBlocks())
	} else {
		q.Absmax, err = readScales(src, p+keyAbsmax, q.NumBlocks())
	}
	if err != nil {
		return nil, "", err
	}
	if err := q.Validate(); err != nil {
		return nil, "", fmt.Errorf("%w: module %q: %v", ErrLayout, p, err)
	}
	return q, st.DType, nil
}

// readDouble reads the double-quantized scales of nb blocks.
func readDouble(src TensorReader, p string, st *quantState, nb int) (*DoubleQuant, error) {
	d := &DoubleQuant{Offset: float32(*st.NestedOffset), Blocksize: *st.NestedBlocksize}
	var err error
	if d.Codes, err = readBytes(src, p+keyAbsmax, nb, false); err != nil {
		return nil, err
	}
	if d.NestedAbsmax, err = readScales(src, p+keyNestedAbsmax, ceilDiv(nb, d.Blocksize)); err != nil {
		return nil, err
	}
	m, err := readFloats(src, p+keyNestedQuantMap, 256)
	if err != nil {
		return nil, err
	}
	if err := checkDynamicMap(m); err != nil {
		return nil, layoutError(p+keyNestedQuantMap, "%v", err)
	}
	copy(d.Map[:], m)
	return d, nil
}

// layoutError names the tensor and what is wrong with it.
func layoutError(tensor, format string, args ...any) error {
	return fmt.Errorf("%w: tensor %q: %s", ErrLayout, tensor, fmt.Sprintf(format, args...))
}

// tensorError is layoutError for a tensor that exists: it names the file too.
func tensorError(t safetensors.Tensor, format string, args ...any) error {
	return fmt.Errorf("%w: %s: tensor %q: %s", ErrLayout, t.File, t.Name, fmt.Sprintf(format, args...))
}

// getTensor fetches a tensor, turning absence into a layout error.
func getTensor(src TensorReader, name string) (safetensors.Tensor, error) {
	if _, ok := src.Info(name); !ok {
		return safetensors.Tensor{}, layoutError(name, "missing")
	}
	t, err := src.Tensor(name)
	if err != nil {
		return t, fmt.Errorf("%w: %w", ErrLayout, err)
	}
	return t, nil
}

// readBytes copies a U8 tensor of n elements. The packed weight may be
// [n, 1] (as bitsandbytes stores it) or [n]; everything else must be [n].
func readBytes(src TensorReader, name string, n int, column bool) ([]byte, error) {
	t, err := getTensor(src, name)
	if err != nil {
		return nil, err
	}
	if t.DType != safetensors.U8 {
		return nil, tensorError(t, "dtype %s, want U8", t.DType)
	}
	if column && !shapeIs(t.Shape, n, 1) && !shapeIs(t.Shape, n) {
		return nil, tensorError(t, "shape %v, want [%d 1] or [%d]", t.Shape, n, n)
	}
	if !column && !shapeIs(t.Shape, n) {
		return nil, tensorError(t, "shape %v, want [%d]", t.Shape, n)
	}
	return append([]byte(nil), t.Data...), nil
}

// readFloats copies an F32 tensor of shape [n].
func readFloats(src TensorReader, name string, n int) ([]float32, error) {
	t, err := getTensor(src, name)
	if err != nil {
		return nil, err
	}
	if t.DType != safetensors.F32 {
		return nil, tensorError(t, "dtype %s, want F32", t.DType)
	}
	if !shapeIs(t.Shape, n) {
		return nil, tensorError(t, "shape %v, want [%d]", t.Shape, n)
	}
	v, err := t.Float32s()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLayout, err)
	}
	return v, nil
}

// readScales is readFloats for block scales, which must be finite and not
// negative: a bad one would silently spoil its whole block.
func readScales(src TensorReader, name string, n int) ([]float32, error) {
	v, err := readFloats(src, name, n)
	if err != nil {
		return nil, err
	}
	for i, a := range v {
		if !(a >= 0 && a <= math.MaxFloat32) {
			return nil, layoutError(name, "scale %d is %v", i, a)
		}
	}
	return v, nil
}

func shapeIs(shape []int, dims ...int) bool {
	if len(shape) != len(dims) {
		return false
	}
	for i := range dims {
		if shape[i] != dims[i] {
			return false
		}
	}
	return true
}

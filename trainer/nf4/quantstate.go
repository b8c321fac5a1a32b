package nf4

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/qlora-studio/qlora-studio/internal/pyfloat"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// quantState is the JSON bitsandbytes packs into
// P.weight.quant_state.bitsandbytes__nf4. The nested keys are present
// exactly when the scales are double-quantized.
type quantState struct {
	QuantType       string   `json:"quant_type"`
	Blocksize       int      `json:"blocksize"`
	DType           string   `json:"dtype"`
	Shape           []int    `json:"shape"`
	NestedBlocksize *int     `json:"nested_blocksize"`
	NestedDType     *string  `json:"nested_dtype"`
	NestedOffset    *float64 `json:"nested_offset"`
}

func (s *quantState) nested() bool { return s.NestedBlocksize != nil }

// maxElements bounds the shape a quant_state may claim (about 70e12, or what an int holds on a
// 32-bit machine), so that a corrupt file cannot overflow the element count.
const maxElements = min(1<<46, math.MaxInt)

// readQuantState reads and checks the quant_state tensor.
func readQuantState(src TensorReader, name string) (*quantState, error) {
	t, err := getTensor(src, name)
	if err != nil {
		return nil, err
	}
	if t.DType != safetensors.U8 || len(t.Shape) != 1 {
		return nil, tensorError(t, "%s %v, want a 1-D U8 tensor of JSON bytes", t.DType, t.Shape)
	}
	var st quantState
	if err := json.Unmarshal(t.Data, &st); err != nil {
		return nil, tensorError(t, "bad JSON: %v", err)
	}
	if err := st.check(); err != nil {
		return nil, tensorError(t, "%v", err)
	}
	return &st, nil
}

// check validates the fields against what bitsandbytes writes for NF4.
func (s *quantState) check() error {
	switch {
	case s.QuantType != "nf4":
		return fmt.Errorf("quant_type %q, want \"nf4\"", s.QuantType)
	case !ValidBlocksize(s.Blocksize):
		return fmt.Errorf("blocksize %d is not a power of two from 32 to 4096", s.Blocksize)
	case !computeDTypes[s.DType]:
		return fmt.Errorf("dtype %q is not bfloat16, float16 or float32", s.DType)
	case len(s.Shape) == 0:
		return fmt.Errorf("no shape")
	}
	n := 1
	for _, d := range s.Shape {
		if d < 0 || (d > 0 && n > maxElements/d) {
			return fmt.Errorf("shape %v is negative or too large", s.Shape)
		}
		n *= d
	}
	return s.checkNested()
}

func (s *quantState) checkNested() error {
	have := 0
	for _, present := range []bool{s.NestedBlocksize != nil, s.NestedDType != nil, s.NestedOffset != nil} {
		if present {
			have++
		}
	}
	switch {
	case have == 0:
		return nil
	case have != 3:
		return fmt.Errorf("nested_blocksize, nested_dtype and nested_offset must appear together")
	case *s.NestedBlocksize != NestedBlocksize:
		return fmt.Errorf("nested_blocksize %d, want %d", *s.NestedBlocksize, NestedBlocksize)
	case *s.NestedDType != "float32":
		return fmt.Errorf("nested_dtype %q, want \"float32\"", *s.NestedDType)
	case math.IsNaN(*s.NestedOffset) || math.Abs(*s.NestedOffset) > math.MaxFloat32:
		return fmt.Errorf("nested_offset %v is not a finite float32", *s.NestedOffset)
	}
	return nil
}

// checkQuantMap checks P.weight.quant_map holds the NF4 table.
// bitsandbytes' CUDA kernels decode NF4 from their built-in table, not from
// this tensor, so it is checked (a mislabelled FP4 map is an error) but not
// used.
func checkQuantMap(src TensorReader, name string) error {
	m, err := readFloats(src, name, 16)
	if err != nil {
		return err
	}
	for k, v := range m {
		if !close32(v, nf4Code[k]) {
			return layoutError(name, "entry %d is %v, the NF4 table has %v", k, v, nf4Code[k])
		}
	}
	return nil
}

// checkDynamicMap accepts a stored nested_quant_map that is the signed
// dynamic map up to last-bit differences (torch's linspace rounds
// differently on other platforms); decoding then uses the stored values.
func checkDynamicMap(m []float32) error {
	for i, v := range m {
		if !close32(v, dynamicMap[i]) {
			return fmt.Errorf("entry %d is %v, the signed dynamic map has %v", i, v, dynamicMap[i])
		}
	}
	return nil
}

// close32 allows a few ulps of float32 rounding.
func close32(a, b float32) bool {
	return math.Abs(float64(a)-float64(b)) <= 1e-6*math.Abs(float64(b))+1e-30
}

// QuantizationConfig is the quantization_config block of config.json for a
// checkpoint saved with 4-bit weights, the keys in the order transformers'
// BitsAndBytesConfig writes them (sorted). It also decodes that block.
type QuantizationConfig struct {
	LoadIn4bitPrivate           bool     `json:"_load_in_4bit"`
	LoadIn8bitPrivate           bool     `json:"_load_in_8bit"`
	ComputeDType                string   `json:"bnb_4bit_compute_dtype"`
	QuantStorage                string   `json:"bnb_4bit_quant_storage"`
	QuantType                   string   `json:"bnb_4bit_quant_type"`
	UseDoubleQuant              bool     `json:"bnb_4bit_use_double_quant"`
	LLMInt8EnableFP32CPUOffload bool     `json:"llm_int8_enable_fp32_cpu_offload"`
	LLMInt8HasFP16Weight        bool     `json:"llm_int8_has_fp16_weight"`
	LLMInt8SkipModules          []string `json:"llm_int8_skip_modules"`
	LLMInt8Threshold            pyFloat  `json:"llm_int8_threshold"`
	LoadIn4bit                  bool     `json:"load_in_4bit"`
	LoadIn8bit                  bool     `json:"load_in_8bit"`
	QuantMethod                 string   `json:"quant_method"`
}

// NewQuantizationConfig returns the block for NF4 weights with the given
// compute dtype ("bfloat16", "float16" or "float32") and double
// quantization, transformers' defaults elsewhere. It panics on another dtype.
func NewQuantizationConfig(computeDType string, doubleQuant bool) QuantizationConfig {
	if !computeDTypes[computeDType] {
		panic(fmt.Sprintf("nf4.NewQuantizationConfig: dtype %q is not bfloat16, float16 or float32", computeDType))
	}
	return QuantizationConfig{
		LoadIn4bitPrivate: true,
		ComputeDType:      computeDType,
		QuantStorage:      "uint8",
		QuantType:         "nf4",
		UseDoubleQuant:    doubleQuant,
		LLMInt8Threshold:  6.0,
		LoadIn4bit:        true,
		QuantMethod:       "bitsandbytes",
	}
}

// pyFloat marshals as Python writes floats ("6.0", not Go's "6").
type pyFloat float64

func (f pyFloat) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return nil, fmt.Errorf("nf4: %v has no JSON form", float64(f))
	}
	return []byte(pyfloat.Repr(float64(f))), nil
}

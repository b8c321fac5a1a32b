package gguf

import (
	"fmt"
	"strings"
)

// GGMLType is a tensor element type, numbered as ggml numbers it (ggml.h's enum ggml_type).
type GGMLType uint32

// The ggml types. This package encodes and decodes F32, F16, BF16 and Q8_0; the others are known
// by size only, so that the header of any llama.cpp file can be read and checked.
const (
	F32     GGMLType = 0
	F16     GGMLType = 1
	Q4_0    GGMLType = 2
	Q4_1    GGMLType = 3
	Q5_0    GGMLType = 6
	Q5_1    GGMLType = 7
	Q8_0    GGMLType = 8
	Q8_1    GGMLType = 9
	Q2_K    GGMLType = 10
	Q3_K    GGMLType = 11
	Q4_K    GGMLType = 12
	Q5_K    GGMLType = 13
	Q6_K    GGMLType = 14
	Q8_K    GGMLType = 15
	IQ2_XXS GGMLType = 16
	IQ2_XS  GGMLType = 17
	IQ3_XXS GGMLType = 18
	IQ1_S   GGMLType = 19
	IQ4_NL  GGMLType = 20
	IQ3_S   GGMLType = 21
	IQ2_S   GGMLType = 22
	IQ4_XS  GGMLType = 23
	I8      GGMLType = 24
	I16     GGMLType = 25
	I32     GGMLType = 26
	I64     GGMLType = 27
	F64     GGMLType = 28
	IQ1_M   GGMLType = 29
	BF16    GGMLType = 30
	TQ1_0   GGMLType = 34
	TQ2_0   GGMLType = 35
)

// typeTraits is a type's block: how many elements, in how many bytes (gguf-py's GGML_QUANT_SIZES).
type typeTraits struct {
	name        string
	block, size int
}

var ggmlTypes = map[GGMLType]typeTraits{
	F32: {"F32", 1, 4}, F16: {"F16", 1, 2}, BF16: {"BF16", 1, 2}, F64: {"F64", 1, 8},
	I8: {"I8", 1, 1}, I16: {"I16", 1, 2}, I32: {"I32", 1, 4}, I64: {"I64", 1, 8},
	Q4_0: {"Q4_0", 32, 18}, Q4_1: {"Q4_1", 32, 20}, Q5_0: {"Q5_0", 32, 22}, Q5_1: {"Q5_1", 32, 24},
	Q8_0: {"Q8_0", 32, 34}, Q8_1: {"Q8_1", 32, 40}, IQ4_NL: {"IQ4_NL", 32, 18},
	Q2_K: {"Q2_K", 256, 84}, Q3_K: {"Q3_K", 256, 110}, Q4_K: {"Q4_K", 256, 144}, Q5_K: {"Q5_K", 256, 176},
	Q6_K: {"Q6_K", 256, 210}, Q8_K: {"Q8_K", 256, 292}, IQ2_XXS: {"IQ2_XXS", 256, 66}, IQ2_XS: {"IQ2_XS", 256, 74},
	IQ3_XXS: {"IQ3_XXS", 256, 98}, IQ1_S: {"IQ1_S", 256, 50}, IQ3_S: {"IQ3_S", 256, 110}, IQ2_S: {"IQ2_S", 256, 82},
	IQ4_XS: {"IQ4_XS", 256, 136}, IQ1_M: {"IQ1_M", 256, 56}, TQ1_0: {"TQ1_0", 256, 54}, TQ2_0: {"TQ2_0", 256, 66},
}

// Known reports whether t is a ggml type this package knows the size of.
func (t GGMLType) Known() bool { _, ok := ggmlTypes[t]; return ok }

func (t GGMLType) String() string {
	if tr, ok := ggmlTypes[t]; ok {
		return tr.name
	}
	return fmt.Sprintf("GGMLType(%d)", uint32(t))
}

// BlockSize is the number of elements in one block: 1 for plain types, 32 for Q8_0. A row (ne[0])
// must hold a whole number of blocks.
func (t GGMLType) BlockSize() int { return ggmlTypes[t].block }

// RowBytes is the size of n elements of type t; n must be a multiple of the block size.
func (t GGMLType) RowBytes(n int64) int64 {
	tr := ggmlTypes[t]
	return n / int64(tr.block) * int64(tr.size)
}

// exportTypes are the types a model's weight matrices can be written in.
var exportTypes = []GGMLType{F32, F16, BF16, Q8_0}

// ExportTypes are the types a model's weight matrices can be written in, as ParseType reads them.
func ExportTypes() []GGMLType { return append([]GGMLType(nil), exportTypes...) }

// ParseType reads a --dtype value: f32, f16, bf16 or q8_0, in any case.
func ParseType(s string) (GGMLType, error) {
	for _, t := range exportTypes {
		if strings.EqualFold(s, t.String()) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("dtype %q: must be f16, bf16, q8_0 or f32", s)
}

// FileType is general.file_type for a model whose matrices are of type t: llama.h's llama_ftype
// (ALL_F32 0, MOSTLY_F16 1, MOSTLY_Q8_0 7, MOSTLY_BF16 32).
func FileType(t GGMLType) (uint32, error) {
	switch t {
	case F32:
		return 0, nil
	case F16:
		return 1, nil
	case Q8_0:
		return 7, nil
	case BF16:
		return 32, nil
	}
	return 0, fmt.Errorf("no model file type for %s tensors", t)
}

// FileName is the conventional name of the file for a model called name with matrices of type t,
// as llama.cpp's converter spells the type: "name-Q8_0.gguf".
func FileName(name string, t GGMLType) string { return name + "-" + t.String() + ".gguf" }

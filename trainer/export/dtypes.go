package export

import (
	"fmt"
	"strings"

	"github.com/qlora-studio/qlora-studio/trainer/gguf"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// Formats are the export formats, in the order they are offered.
var Formats = []Format{PEFT, Merged, BnB4, GGUF}

// floatDTypes are the dtypes of the safetensors formats' weights (the compute dtype for bnb4).
var floatDTypes = []safetensors.DType{safetensors.BF16, safetensors.F16, safetensors.F32}

// defaultGGUF is a GGUF's matrix type when none is chosen.
const defaultGGUF = gguf.F16

// DTypes are the dtypes format f accepts, as --dtype spells them: bf16, f16 and f32, and for
// GGUF also q8_0. The one place that says which dtype goes with which format: the command line
// checks with SetDType, the app offers these.
func DTypes(f Format) []string {
	var names []string
	switch f {
	case PEFT, Merged, BnB4:
		for _, d := range floatDTypes {
			names = append(names, strings.ToLower(string(d)))
		}
	case GGUF:
		for _, t := range gguf.ExportTypes() {
			names = append(names, strings.ToLower(t.String()))
		}
	}
	return names
}

// DefaultDType is the dtype format f writes when none is chosen, as --dtype spells it; "" when
// that is the base model's own (merged and bnb4).
func DefaultDType(f Format) string {
	switch f {
	case PEFT:
		return strings.ToLower(string(safetensors.F32))
	case GGUF:
		return strings.ToLower(defaultGGUF.String())
	}
	return ""
}

// SetDType sets the options' dtype for their format from a --dtype value ("" keeps the format's
// default); a dtype the format does not accept is an error naming those it does.
func (o *Options) SetDType(name string) error {
	if o.Format == GGUF {
		if name == "" {
			o.GGUF = defaultGGUF
			return nil
		}
		t, err := gguf.ParseType(name)
		if err != nil {
			return err
		}
		o.GGUF = t
		return nil
	}
	if name == "" {
		return nil
	}
	d, err := ParseDType(name)
	if err != nil {
		return fmt.Errorf("%w for a %s export", err, o.Format)
	}
	o.DType = d
	return nil
}

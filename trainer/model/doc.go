// Package model describes the Llama family of decoder-only transformers that QLoRA Studio trains:
// Llama 1/2/3/3.1, Mistral and Qwen2 as Hugging Face transformers defines them.
//
// Today it holds the model configuration: ParseConfig and LoadConfig read a Hugging Face config.json
// (transformers 4.x with rope_theta/rope_scaling, or 5.x with rope_parameters), fill in every absent
// field with the default of that model_type's transformers config class, and refuse, with an error
// naming the file and the field, anything the trainer cannot train exactly: another activation, an
// unsupported RoPE scaling, sizes that do not fit together, a pre-quantized checkpoint that is not
// bitsandbytes nf4. The derived sizes (QDim, KVDim, ProjectionShapes, ParamCount) are the one place
// the memory planner, the weight loader and the exporters learn shapes from.
//
// The weights bound by their Hugging Face names and the forward and backward passes belong here too
// and will live in their own files.
//
// The package must not do UI, database, or network work, and it never guesses: a config it accepts
// describes the same model transformers would build from it.
package model

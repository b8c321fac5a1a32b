// Package safetensors reads and writes the safetensors format that Hugging Face checkpoints use.
//
// Reading memory-maps each file, so a 130 GB checkpoint is never read whole: a Tensor's Data is a
// read-only view into the mapping, valid until its File is closed. Sharded checkpoints are followed
// through model.safetensors.index.json. Every structural fault of a file (a truncated buffer,
// overlapping or out-of-range offsets, an oversized header, a duplicate key, an unknown dtype) is an
// error that names the file and, where there is one, the tensor.
//
// Writing streams tensors one at a time (each Source produces its bytes only when it is written) into a
// temporary file that is renamed into place, so a failed write never leaves a half file under the
// real name.
//
// The package knows nothing of models: names and shapes are the caller's business. It assumes a
// little-endian host, as the format itself is little-endian.
package safetensors

// Package lora holds LoRA adapters for Llama-family models: their configuration, their weights and
// the PEFT files (adapter_config.json, adapter_model.safetensors) that carry them to and from the
// Hugging Face ecosystem. Initialisation, scaling, dropout and merging of adapters belong here too.
//
// # Basics
//
// An Adapter is an AdapterConfig (PEFT's LoraConfig, field for field as adapter_config.json holds it)
// plus one ModuleWeights per adapted projection: A is (r, in) and B is (out, r), row-major float32,
// so that the update to a projection's weight is Scaling() * B @ A.
//
// Save writes what PEFT's save_pretrained writes: the weights under PEFT's tensor names
// (base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight, ...) with metadata
// {"format":"pt"}, then the configuration exactly as json.dumps(asdict(cfg), indent=2,
// sort_keys=True) prints it. Each file is written to a temporary name and renamed into place.
//
// Load reads adapters that any PEFT version wrote: only peft_type is required, absent keys take
// LoraConfig's defaults, F32, BF16 and F16 weights are accepted, and tensor names may carry the
// adapter name (lora_A.default.weight) as PEFT's own loader allows.
//
// # Caveats
//
// Keys of adapter_config.json this package does not know are kept in AdapterConfig.Extra and written
// back unchanged, so a file from a newer PEFT survives a round trip; the few newer keys that would
// change what the weights mean (use_qalora, alora_invocation_tokens, trainable_token_indices,
// target_parameters, use_bdlora, arrow_config) are refused when set. So are the LoRA variants the
// engine cannot train or apply: DoRA, trained biases, lora_bias, fan_in_fan_out, per-module ranks or
// alphas, modules_to_save and layer_replication. Errors name the file and the key or tensor.
//
// The package knows nothing of the UI, the library database or the compute backend.
package lora

# Writes the adapter_config.json goldens exactly as PEFT's save_pretrained does:
# json.dumps(asdict(cfg), indent=2, sort_keys=True), no final newline. Only the json module is used,
# so the goldens are independent of the Go writer. Run with /usr/bin/python3 from this folder.
import json

# The real example of docs qlora-formats.md section 4 (r 10, lora_alpha 20, three MLP modules).
reference = {
    "alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": None, "bias": "none",
    "fan_in_fan_out": False, "inference_mode": False, "init_lora_weights": True, "layer_replication": None,
    "layers_pattern": None, "layers_to_transform": None, "loftq_config": {}, "lora_alpha": 20, "lora_bias": False,
    "lora_dropout": 0.0, "modules_to_save": None, "peft_type": "LORA", "r": 10, "rank_pattern": {},
    "revision": None, "target_modules": ["gate_proj", "up_proj", "down_proj"], "task_type": "CAUSAL_LM",
    "use_dora": False, "use_rslora": False,
}

# Every formatting rule at once: non-ASCII and control characters, Python float repr, a regex
# target, nested dicts and keys of newer PEFT versions that the Go side keeps in Extra.
tricky = dict(reference)
tricky.update({
    "base_model_name_or_path": "/models/caf\u00e9 \u2603/Llama-\U0001F600 \"q\" \\ \x7f\t\n",
    "revision": "main",
    "target_modules": r".*\.(q|k|v|o)_proj",
    "lora_alpha": 0.5,
    "lora_dropout": 1e-05,
    "use_rslora": True,
    "init_lora_weights": "gaussian",
    "inference_mode": True,
    "loftq_config": {"loftq_bits": 4, "loftq_iter": 1},
    "auto_mapping": {"parent_library": "transformers.models.llama.modeling_llama", "base_model_class": "LlamaForCausalLM"},
    "exclude_modules": None,
    "megatron_config": None,
    "megatron_core": "megatron.core",
    "peft_version": "0.19.0",
    "use_qalora": False,
    "qalora_group_size": 16,
    "eva_config": {"rho": 2.0, "tau": 0.99, "whiten": False, "label_mask_value": -100,
                   "big": 1e16, "tiny": 1.5e-07, "sum": 0.1 + 0.2, "list": [1, [], {}, None, "\u00fc"]},
})

for name, cfg in [("adapter_config_reference.json", reference), ("adapter_config_tricky.json", tricky)]:
    with open(name, "w") as f:
        f.write(json.dumps(cfg, indent=2, sort_keys=True))

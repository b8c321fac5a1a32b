// Package axolotl hands a run configuration to axolotl (the PyTorch fine-tuning tool that trains
// across GPUs and nodes with FSDP or DeepSpeed) and reads an axolotl configuration back into ours.
//
// # Basics
//
// ToAxolotl writes every key of a run.Config that axolotl can express as axolotl's key, and names
// every key it cannot (a Note); FromAxolotl does the reverse, naming every axolotl key that has no
// counterpart here. The table of keys (keys.go) is the one place the two vocabularies meet.
// WriteDataset rewrites a dataset file as JSON Lines in the layout of the axolotl dataset type that
// trains what our engine trains on that shape, and Handoff writes the whole folder a cluster needs:
// the YAML, the data and a README with the launch commands.
//
// # Sources
//
// The keys and dataset types come from axolotl's own documentation and code
// (github.com/axolotl-ai-cloud/axolotl), never from guesses:
//
//   - docs/config-reference.qmd: every top-level key, its type and its default (lr_scheduler
//     cosine, optimizer adamw_torch_fused, sequence_len 512, num_epochs 1.0, ...).
//   - docs/config.qmd (the annotated reference): bnb_config_kwargs and its defaults (nf4, double
//     quantization), the custom instruct type (field_instruction, format, no_input_format),
//     test_datasets with split: train, eval_strategy and save_strategy "no", curriculum_sampling,
//     lr_scheduler values ("empty for cosine"), optimizer names, roles_to_train and train_on_eos
//     ("if empty, defaults to training only on the last message").
//   - docs/dataset-formats/index.qmd, inst_tune.qmd, tokenized.qmd, template_free.qmd: the types
//     alpaca, chat_template (field_messages, message_property_mappings), completion (a text
//     column), input_output, and pre-tokenized rows (an empty type; input_ids, attention_mask,
//     labels).
//   - docs/dataset_loading.qmd: local files with ds_type json.
//   - docs/multi-gpu.qmd, docs/multi-node.qmd, docs/fsdp_qlora.qmd: FSDP2 (fsdp_version,
//     fsdp_config), DeepSpeed configs, and the launch commands for one node and several.
//   - examples/llama-3/qlora.yml and qlora-fsdp-70b.yaml: adapter: qlora with load_in_4bit.
//   - src/axolotl/prompt_strategies/completion.py (reads "text", splits long texts into
//     sequence_len chunks) and user_defined.py (the custom instruct type).
//
// # What this package must not do
//
// It runs nothing on a cluster and contacts no network; it knows nothing of the library database
// or the UI. It writes only into the folder it is given.
package axolotl

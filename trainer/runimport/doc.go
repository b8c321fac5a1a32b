// Package runimport brings a fine-tune made elsewhere into our run layout: a PEFT adapter folder as
// axolotl, PEFT or Unsloth save it, with the Hugging Face Trainer's checkpoint-N folders and
// trainer_state.json when it made them, becomes a run folder like one this engine writes (run.yaml,
// metrics.jsonl, checkpoints/step-N), so that listing, charting, comparing and exporting work on
// it unchanged.
//
// The run's configuration comes from adapter_config.json (the LoRA and its base) and, when given,
// the axolotl YAML it was trained with (trainer/axolotl reads it); its curves from log_history,
// whose steps carry no clock times: they are spread evenly over train_runtime, ending when
// trainer_state.json was written. An imported run has no optimizer state, so it cannot be
// resumed here.
//
// It knows nothing of the library database (the caller records the folder) or the UI, and never
// writes into the folder it imports from.
package runimport

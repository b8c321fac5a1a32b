package axolotl

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/qlora-studio/qlora-studio/trainer/data"
)

// readmeFacts are what the README of a handoff says.
type readmeFacts struct {
	name   string // axolotl's output folder is outputs/NAME
	result Result
	layer  string // the decoder layer class FSDP wraps; "" when unknown here
}

// readme is the handoff's README: the launch commands for one node and for several (from axolotl's
// docs/multi-gpu.qmd and docs/multi-node.qmd), how to bring the result back, and every key that
// did not carry over.
func readme(f readmeFacts) []byte {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# %s: a QLoRA Studio run handed to axolotl\n\n", f.name)
	w("- `%s`: the axolotl configuration\n", ConfigFile)
	w("- `%s`: %d %s rows, %s\n", TrainFile, f.result.Rows, f.result.Shape, shapeText[f.result.Shape])
	w("- `%s`: the run's configuration here, resolved, for reference\n\n", OursFile)
	w("Copy this folder to the cluster and run the commands from inside it, with axolotl installed on every\n")
	w("node (the same version everywhere). `base_model` in `%s` must name the model as the cluster\n", ConfigFile)
	w("reaches it: a Hugging Face id, or a path on the shared file system.\n\n")
	writeLaunch(w, f.layer)
	w("## Bring the result back\n\n")
	w("When training ends, copy `outputs/%s` back and import it into the library (its loss and\n", f.name)
	w("evaluation curves come from the `trainer_state.json` of its last checkpoint):\n\n")
	w("```bash\nqlora runs import outputs/%s --config %s\n```\n\n", f.name, ConfigFile)
	writeNotes(w, f.result.Notes)
	return []byte(b.String())
}

var shapeText = map[data.Shape]string{
	data.ShapeAlpaca:     "written as conversations (`messages`) for type `chat_template`, as training here renders them",
	data.ShapeShareGPT:   "written as conversations (`messages`) for type `chat_template`",
	data.ShapeMessages:   "for type `chat_template`",
	data.ShapeCompletion: "prompt and completion for the custom instruct type (the prompt is not trained on)",
	data.ShapeText:       "for type `completion`",
	data.ShapeTokenized:  "token ids with labels, pre-tokenized (an empty `type`)",
}

func writeLaunch(w func(string, ...any), layer string) {
	w("## One node\n\n")
	w("```bash\naxolotl train %s\n```\n\n", ConfigFile)
	w("On several GPUs of one node this trains data-parallel. When the model does not fit one GPU, shard\n")
	w("it: either DeepSpeed (`axolotl fetch deepspeed_configs`, then `axolotl train %s --deepspeed\n", ConfigFile)
	w("deepspeed_configs/zero2.json`, or zero3 to shard the weights too), or FSDP with QLoRA (llama,\n")
	w("mistral and mixtral models), by adding to `%s`:\n\n", ConfigFile)
	if layer == "" {
		layer = "LlamaDecoderLayer  # the model's decoder layer class"
	}
	w("```yaml\nfsdp_version: 2\nfsdp_config:\n  offload_params: false\n  state_dict_type: FULL_STATE_DICT\n")
	w("  auto_wrap_policy: TRANSFORMER_BASED_WRAP\n  transformer_layer_cls_to_wrap: %s\n  reshard_after_forward: true\n```\n\n", layer)
	w("## Several nodes\n\n")
	w("Run this on every node, with the same folder and configuration on each (for InfiniBand, also\n")
	w("`export NCCL_IB_DISABLE=0`):\n\n")
	w("```bash\naxolotl train %s --launcher torchrun -- --nnodes $NUM_NODES --nproc_per_node $GPUS_PER_NODE \\\n", ConfigFile)
	w("  --rdzv_id $JOB_ID --rdzv_backend c10d --rdzv_endpoint \"$HEAD_NODE_IP:29400\"\n```\n\n")
	w("`micro_batch_size` is per GPU: the batch of one optimizer step is micro_batch_size ×\n")
	w("gradient_accumulation_steps × the number of GPUs, so divide gradient_accumulation_steps by the\n")
	w("number of GPUs to keep the run's batch.\n\n")
}

func writeNotes(w func(string, ...any), notes []Note) {
	w("## What did not carry over as it was\n\n")
	if len(notes) == 0 {
		w("Nothing: every key is in `%s`.\n\n", ConfigFile)
	}
	for _, n := range notes {
		w("- `%s: %v` (%s): %s\n", n.Key, n.Value, n.Side, n.What)
	}
	w("\n## Set for the cluster\n\nThese axolotl keys have no counterpart here:\n\n")
	for _, k := range slices.Sorted(maps.Keys(setForCluster)) {
		w("- `%s`: %s\n", k, setForCluster[k])
	}
}

#!/usr/bin/env bash
# The recipe of the demo base model (assets/demo/model): generate the corpus, train a byte-level
# BPE tokenizer on it, write a random Llama of the cpu-small shape with that vocabulary, pretrain
# every weight with `qlora train --set full_training=true`, and copy the final checkpoint's model.
#
#   INSTALL=assets/demo/model scripts/demo-pretrain.sh   # the committed model: about 20 minutes on 2 cores
#   OUT=/tmp/p SIZE=300000 VOCAB=400 STEPS=60 SEQ=128 BATCH=4 LR=0.006 HIDDEN=64 INTERMEDIATE=176 \
#     LAYERS=2 HEADS=4 KV_HEADS=2 EVAL=30 SAVE=30 scripts/demo-pretrain.sh   # seconds: what CI runs
#
# Variables: OUT (work folder, default bin/demo-pretrain), QLORA (the qlora binary; built into bin/
# when unset), SIZE (corpus bytes), VOCAB, STEPS, SEQ, BATCH, LR, HIDDEN, INTERMEDIATE, LAYERS,
# HEADS, KV_HEADS, INSTALL (a folder to copy the model into, e.g. assets/demo/model; unset: none).
# Resumes the run when OUT already holds one (a kill loses at most SAVE steps). `qlora train` records
# the run in the library ($QLORA_LIBRARY, else the default one) as any run.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-bin/demo-pretrain}
SIZE=${SIZE:-8388608}
VOCAB=${VOCAB:-2048}
STEPS=${STEPS:-800}
SEQ=${SEQ:-256}
BATCH=${BATCH:-8}
LR=${LR:-0.002}
SAVE=${SAVE:-50}
HIDDEN=${HIDDEN:-256}
INTERMEDIATE=${INTERMEDIATE:-688}
LAYERS=${LAYERS:-4}
HEADS=${HEADS:-8}
KV_HEADS=${KV_HEADS:-4}
EVAL=${EVAL:-100}

if [ -z "${QLORA:-}" ]; then
	go build -o bin/qlora ./cmd/qlora
	QLORA=bin/qlora
fi
mkdir -p "$OUT"

if [ ! -f "$OUT/run/run.yaml" ]; then
	go run ./scripts/democorpus -corpus "$OUT/corpus.jsonl" -text "$OUT/corpus.txt" -size "$SIZE"
	"$QLORA" tokenizer train --corpus "$OUT/corpus.txt" --vocab "$VOCAB" --out "$OUT/tokenizer"
	rm -rf "$OUT/init"
	go run ./scripts/demomodel -tokenizer "$OUT/tokenizer" -out "$OUT/init" -corpus "$OUT/corpus.jsonl" \
		-hidden "$HIDDEN" -intermediate "$INTERMEDIATE" -layers "$LAYERS" -heads "$HEADS" -kv-heads "$KV_HEADS"
	"$QLORA" train --model "$OUT/init" --data "$OUT/corpus.jsonl" --out "$OUT/run" \
		--set full_training=true --set load_in_4bit=false --set dataset_format=text \
		--set packing=true --set max_seq_length="$SEQ" --set micro_batch_size="$BATCH" \
		--set gradient_accumulation_steps=1 --set gradient_checkpointing=false \
		--set learning_rate="$LR" --set lr_scheduler_type=cosine --set warmup_steps=$((STEPS / 20 + 1)) \
		--set weight_decay=0.01 --set max_grad_norm=1.0 --set max_steps="$STEPS" \
		--set val_set_size=64 --set eval_steps="$EVAL" --set save_steps="$SAVE" --set save_total_limit=2 \
		--set shuffle=true --set seed=15
else
	"$QLORA" resume "$OUT/run"
fi

last="$OUT/run/checkpoints/step-$(ls -d "$OUT"/run/checkpoints/step-* | sed 's/.*step-//' | sort -n | tail -1)"
echo "pretrained: $last"
if [ -n "${INSTALL:-}" ]; then
	go run ./scripts/demomodel -install "$last" -out "$INSTALL"
	echo "installed into $INSTALL"
fi

# QLoRA Studio. `make run` sets up, builds and runs the main job; `make test` runs every check.
BIN := bin
EXAMPLE := $(BIN)/example

.PHONY: all setup build test run clean

all: build

setup:
	scripts/setup.sh

build:
	go build -o $(BIN)/qlora ./cmd/qlora

test:
	scripts/check.sh

# The main job until the demo model exists: a QLoRA fine-tune of a tiny Llama (random weights, a real
# tokenizer) that learns an answer format in a few seconds on the CPU — the plan first, then the run,
# then the same question before and after.
run: setup build
	rm -rf $(EXAMPLE)
	go run ./scripts/tinychat -out $(EXAMPLE)
	$(BIN)/qlora plan --model $(EXAMPLE)/model --preset demo --backend cpu --gpu-memory 4GiB
	$(BIN)/qlora generate --model $(EXAMPLE)/model --prompt "What is the capital of Peru?" --max-tokens 12
	$(BIN)/qlora train --model $(EXAMPLE)/model --data $(EXAMPLE)/capitals.jsonl --preset demo \
		--set chat_template=chatml --set max_steps=80 --set learning_rate=0.02 --set max_seq_length=64 \
		--out $(EXAMPLE)/run
	$(BIN)/qlora generate --model $(EXAMPLE)/model --adapter $(EXAMPLE)/run/checkpoints/step-80 \
		--prompt "What is the capital of Peru?" --max-tokens 12

clean:
	rm -rf $(BIN)

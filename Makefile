# QLoRA Studio. `make run` sets up, builds and runs the main job; `make test` runs every check.
BIN := bin
GO_FLAGS :=

.PHONY: all setup build test run clean

all: build

setup:
	scripts/setup.sh

build:
	go build $(GO_FLAGS) -o $(BIN)/qlora ./cmd/qlora

test:
	scripts/check.sh

# Until the demo fine-tune exists, the main job is quantizing the bundled tiny Llama to NF4 and
# describing it before and after.
run: setup build
	$(BIN)/qlora inspect testdata/models/tiny-llama
	rm -rf $(BIN)/tiny-llama-nf4
	$(BIN)/qlora quantize testdata/models/tiny-llama --out $(BIN)/tiny-llama-nf4
	$(BIN)/qlora inspect $(BIN)/tiny-llama-nf4

clean:
	rm -rf $(BIN)

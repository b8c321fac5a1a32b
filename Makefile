# QLoRA Studio. `make run` sets up, builds and runs the main job; `make test` runs every check.
BIN := bin

.PHONY: all setup build studio package test run clean cuda ptx devcheck-build cuda-emu-test

all: build

setup:
	scripts/setup.sh

build:
	go build -o $(BIN)/qlora ./cmd/qlora

# qlora-cuda: the engine with the CUDA backend, beside qlora, which hands GPU runs over to it. Building
# needs cuda.h (Debian's nvidia-cuda-dev, installed by make setup), not a GPU and not nvcc: the
# kernels' PTX is committed. It links libcuda.so.1 (the driver) and opens cuBLAS at run time.
cuda:
	go build -tags cuda -o $(BIN)/qlora-cuda ./cmd/qlora

# The kernels' PTX (cuda/kernels/*.cu for compute_80), to commit after changing a kernel: needs nvcc
# from CUDA 11.8 (Debian's nvidia-cuda-toolkit).
ptx:
	go generate ./cuda

# What cuda/devcheck/run.sh runs on a GPU machine that has no Go: carry bin/devcheck there.
devcheck-build:
	mkdir -p $(BIN)/devcheck
	go build -tags cuda -ldflags='-s -w' -o $(BIN)/devcheck/qlora-cuda ./cmd/qlora
	go test -c -tags cuda -ldflags='-s -w' -o $(BIN)/devcheck/cuda.test ./cuda

# The CUDA backend (kernels and Go code) against the conformance suite on the CPU, through the
# emulator in cuda/internal/emu (needs g++, no GPU).
cuda-emu-test:
	scripts/cuda-emu-test.sh

# The desktop app, beside the engine it starts for each run (it finds `qlora` in its own folder).
# Fyne needs cgo and, on Debian, libgl1-mesa-dev and xorg-dev (make setup installs them).
studio: build
	go build -o $(BIN)/qlora-studio .

# A desktop package of the app (qlora-studio.tar.xz with the icon and a .desktop entry), made by
# Fyne's tool from FyneApp.toml: go install fyne.io/tools/cmd/fyne@latest
package:
	fyne package --release

test:
	scripts/check.sh

# The main job: `qlora demo` imports the bundled demo model (a small Llama pretrained by this engine,
# assets/demo) and its dataset into the library once, fine-tunes it with QLoRA on the CPU for about
# two minutes, and prints the held-out score before and after with generations side by side.
run: setup build
	$(BIN)/qlora demo

clean:
	rm -rf $(BIN)

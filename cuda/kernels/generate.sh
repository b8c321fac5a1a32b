#!/bin/sh
# Compiles every kernels/*.cu to PTX for compute_80: `go generate ./cuda` runs it. Needs nvcc from
# CUDA 11.8 (Debian: nvidia-cuda-toolkit); the committed PTX is what it writes, which
# TestPTX_IsGenerated checks wherever that nvcc exists. OUT overrides the output folder.
set -eu
cd "$(dirname "$0")"
out=${OUT:-.}
for cu in *.cu; do
	nvcc -ptx -arch=compute_80 -O3 -std=c++14 -o "$out/${cu%.cu}.ptx" "$cu"
done

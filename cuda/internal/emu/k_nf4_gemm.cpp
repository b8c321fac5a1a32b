//go:build cudaemu

// kernels/nf4_gemm.cu compiled for the emulator.
#include "emu.h"

#include "../../kernels/nf4_gemm.cu"

EMU_KERNEL(nf4_gemm);

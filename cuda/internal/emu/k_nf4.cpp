//go:build cudaemu

// kernels/nf4.cu compiled for the emulator.
#include "emu.h"

#include "../../kernels/nf4.cu"

EMU_KERNEL(nf4_dequantize);

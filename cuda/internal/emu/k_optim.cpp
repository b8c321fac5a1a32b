//go:build cudaemu

// kernels/optim.cu compiled for the emulator.
#include "emu.h"

#include "../../kernels/optim.cu"

EMU_KERNEL(sum_squares);
EMU_KERNEL(adamw);
EMU_KERNEL(adamw_8bit);

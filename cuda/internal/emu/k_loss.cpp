//go:build cudaemu

// kernels/loss.cu compiled for the emulator.
#include "emu.h"

#include "../../kernels/loss.cu"

EMU_KERNEL(cross_entropy_forward);
EMU_KERNEL(cross_entropy_backward);

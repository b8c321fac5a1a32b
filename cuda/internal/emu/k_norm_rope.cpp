//go:build cudaemu

// kernels/norm_rope.cu compiled for the emulator.
#include "emu.h"

#include "../../kernels/norm_rope.cu"

EMU_KERNEL(rmsnorm_forward);
EMU_KERNEL(rmsnorm_backward);
EMU_KERNEL(rope);

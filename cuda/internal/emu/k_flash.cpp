//go:build cudaemu

// kernels/flash.cu compiled for the emulator.
#include "emu.h"

#include "../../kernels/flash.cu"

EMU_KERNEL(flash_forward);
EMU_KERNEL(flash_backward_delta);
EMU_KERNEL(flash_backward_dkdv);
EMU_KERNEL(flash_backward_dq);

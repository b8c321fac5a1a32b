//go:build cudaemu

// kernels/elementwise.cu compiled for the emulator.
#include "emu.h"

#include "../../kernels/elementwise.cu"

EMU_KERNEL(cast);
EMU_KERNEL(add);
EMU_KERNEL(add_bias);
EMU_KERNEL(scale_inplace);
EMU_KERNEL(embedding_forward);
EMU_KERNEL(swiglu_forward);
EMU_KERNEL(swiglu_backward);
EMU_KERNEL(dropout);

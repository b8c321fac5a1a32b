//go:build cudaemu

// kernels/attention.cu compiled for the emulator.
#include "emu.h"

#include "../../kernels/attention.cu"

EMU_KERNEL(attention_forward);
EMU_KERNEL(attention_cached);
EMU_KERNEL(attention_backward_dq);
EMU_KERNEL(attention_backward_dkdv);

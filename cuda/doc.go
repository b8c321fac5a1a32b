// Package cuda is the GPU backend of the engine: backend.Backend on an NVIDIA GPU (compute
// capability 8.0 or newer), built only with `-tags cuda` into qlora-cuda. Nothing outside this
// folder may import it: gorgonia.org/cu, which it links, initialises CUDA when it loads and exits
// the process where no GPU works. (cuda/gpuinfo, which asks NVML about the GPUs, may be imported
// anywhere.)
//
// # Storage and arithmetic
//
// A Tensor carries its storage type: New makes bf16 tensors (activations), NewFP32 float32 ones
// (parameters, gradients, optimizer states, statistics), Load bf16 ones (frozen weights), LoadNF4
// keeps a weight packed as the checkpoint holds it. Every kernel takes each tensor's type beside its
// pointer, loads into float, computes in float (double where the CPU reference does), and rounds
// once on store, so any op accepts any mix. GEMMs go to cuBLAS (cublasGemmEx, fp32 accumulation);
// an fp32 operand beside a bf16 one (a LoRA matrix beside activations) is cast to a bf16 copy first.
// The kernels' arithmetic follows the CPU backend (trainer/backend/cpu) op for op, rounding each
// operation separately where it does; the conformance suite (backendtest) checks it, with bf16 and
// with fp32 storage. The exception is attention on bf16 tensors with heads of at most 128, the
// training path: it runs on the tensor cores (kernels/flash.cu, FlashAttention-2 style), the
// products in bf16 with fp32 accumulation and the probabilities rounded to bf16 before P·V, within
// bf16's tolerance of the reference; fp32 tensors keep the plain kernels (kernels/attention.cu).
//
// # NF4 fused into the GEMM
//
// By default an NF4 projection is dequantized in full to a bf16 scratch weight, then multiplied by
// cuBLAS. With QLORA_CUDA_NF4_GEMM=fused (read when a Backend opens) Dequantize only marks its
// output as pending and the Gemm that takes it as b runs kernels/nf4_gemm.cu, which decodes the
// weight tile by tile into shared memory and multiplies it on the tensor cores (mma.sync), so the
// bf16 weight is never written; any other op touching those bytes writes the weight first, so
// the pending state cannot be observed (nf4_gemm.go). It stays off until a GPU has measured it
// (BenchmarkNF4Gemm_8B, cuda/devcheck/run.sh kernels): it saves the weight's round trip through
// memory, but cuBLAS's kernels are faster than mma.sync, above all on Hopper, where they use wgmma.
//
// # The context and its goroutine
//
// The process has one device (device 0's primary context, one stream, cuBLAS, the memory), shared by
// every Backend. The context is current on one goroutine locked to its OS thread; each op checks its
// arguments on the caller's goroutine (a wrong size panics naming the op) and hands its launches to
// that goroutine, waiting for it. Work runs in order on the one stream; downloads synchronise. A
// Backend has its own scratch, so one Backend serves one goroutine at a time, as the interface says.
// Results do not depend on scheduling: no float atomics, and every reduction has a fixed order.
//
// # Memory
//
// Device memory is an arena sub-allocated by first fit (memory.go). ReservePlan sizes it from the
// memory planner's figures for the run, so plan and reality agree; without a plan it grows as
// tensors need. Tensors are returned by runtime cleanups when nothing refers to them. A tensor that
// does not fit is an *OutOfMemoryError: returned by Load, raised by the ops that cannot return an
// error. MemoryInUse and Memory read NVML (cuda/gpuinfo) for the step events.
//
// # Files
//
// kernels/*.cu are the kernels, forward and backward side by side, and kernels/*.cuh what they
// share (mma.cuh: the tensor-core product); `go generate ./cuda` compiles them to the committed
// kernels/*.ptx (nvcc from CUDA 11.8, compute_80), which the package embeds. driver_cu.go is the
// GPU (gorgonia.org/cu; cublas_cu.go opens cuBLAS with dlopen; pinned_cu.go binds what cu lacks).
// Built with -tags cudaemu instead of cuda, driver_emu.go runs the same kernels on the CPU through
// internal/emu, so that scripts/cuda-emu-test.sh (`go test -tags cudaemu ./cuda/...` with the
// kernels' hash in the build cache's key) checks the kernels and everything around them on a
// machine without a GPU. devcheck/ holds the script that checks the backend on a GPU machine from
// binaries built elsewhere.
package cuda

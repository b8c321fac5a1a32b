// Package cuda is the GPU backend of the engine, built only with `-tags cuda` into `qlora-cuda`:
// kernels compiled to PTX and embedded, cuBLAS opened with dlopen, memory from one arena. Nothing
// outside this folder may import it, because gorgonia.org/cu initialises CUDA when it loads.
package cuda

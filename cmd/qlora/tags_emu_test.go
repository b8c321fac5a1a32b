//go:build cudaemu

package main

// testTags are the build tags TestMain builds the qlora it runs with: this test binary's, so that
// the CUDA tests run the engine with the emulated GPU backend.
const testTags = "cudaemu"

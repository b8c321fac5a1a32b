//go:build !cudaemu

package main

// testTags are the build tags TestMain builds the qlora it runs with: this test binary's.
const testTags = ""

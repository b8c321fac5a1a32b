//go:build cudaemu && !cuda

package cuda

import (
	"crypto/sha1"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/qlora-studio/qlora-studio/cuda/internal/emu"
)

// TestEmulator_BuiltFromTheseKernels ensures the emulator runs the kernels as they are now. It
// #includes them from cuda/kernels, which Go's build cache does not watch, so a plain `go test`
// after editing a kernel would test the old one; scripts/cuda-emu-test.sh passes their hash.
func TestEmulator_BuiltFromTheseKernels(t *testing.T) {
	h := sha1.New()
	for _, pattern := range []string{"kernels/*.cu", "kernels/*.cuh"} {
		files, _ := filepath.Glob(pattern)
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			h.Write(b)
		}
	}
	want := "k" + hex.EncodeToString(h.Sum(nil))[:12]
	if got := emu.KernelsSHA(); got != want {
		t.Fatalf("the emulator was built from kernel sources %q, not these (%s): run scripts/cuda-emu-test.sh (make cuda-emu-test), not go test", got, want)
	}
}

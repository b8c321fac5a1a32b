package cuda

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// These checks need no GPU: they read the committed PTX, and assemble or regenerate it where the
// CUDA toolkit is installed.

var (
	entryRE = regexp.MustCompile(`\.visible \.entry (\w+)\(([^)]*)\)`)
	paramRE = regexp.MustCompile(`\.param \.(\w+) \w+`)
)

// ptxEntries maps every kernel in the committed PTX to its parameter types, by module.
func ptxEntries(t *testing.T) map[string]map[string][]string {
	t.Helper()
	files, err := filepath.Glob("kernels/*.ptx")
	if err != nil || len(files) == 0 {
		t.Fatalf("no PTX under kernels/ (%v): run go generate ./cuda", err)
	}
	out := map[string]map[string][]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		module := strings.TrimSuffix(filepath.Base(f), ".ptx")
		out[module] = map[string][]string{}
		for _, m := range entryRE.FindAllStringSubmatch(string(b), -1) {
			var types []string
			for _, p := range paramRE.FindAllStringSubmatch(m[2], -1) {
				types = append(types, p[1])
			}
			out[module][m[1]] = types
		}
	}
	return out
}

// TestPTX_EntriesMatchKernels ensures every kernel the Go code launches is in its module's PTX with
// the number of parameters the Go code passes, every parameter 8 bytes (gorgonia.org/cu copies 8
// bytes per parameter), and that the PTX holds no kernel the Go code does not know.
func TestPTX_EntriesMatchKernels(t *testing.T) {
	entries := ptxEntries(t)
	known := map[string]bool{}
	for _, k := range allKernels {
		known[k.module+"."+k.name] = true
		types, ok := entries[k.module][k.name]
		if !ok {
			t.Errorf("%s: not in kernels/%s.ptx", k, k.module)
			continue
		}
		if len(types) != k.params {
			t.Errorf("%s: the PTX has %d parameters, the Go code passes %d", k, len(types), k.params)
		}
		for i, ty := range types {
			if !slices.Contains([]string{"u64", "s64", "b64", "f64"}, ty) {
				t.Errorf("%s: parameter %d is .%s, not 8 bytes", k, i, ty)
			}
		}
	}
	for module, es := range entries {
		for name := range es {
			if !known[module+"."+name] {
				t.Errorf("kernels/%s.ptx has %s, which no Go code launches", module, name)
			}
		}
	}
}

// TestEmulator_RegistersEveryKernel ensures the emulator (internal/emu, -tags cudaemu) compiles every
// module and registers every kernel of the PTX.
func TestEmulator_RegistersEveryKernel(t *testing.T) {
	re := regexp.MustCompile(`EMU_KERNEL\((\w+)\);`)
	for module, es := range ptxEntries(t) {
		b, err := os.ReadFile(filepath.Join("internal", "emu", "k_"+module+".cpp"))
		if err != nil {
			t.Errorf("module %s has no emulator wrapper: %v", module, err)
			continue
		}
		var got []string
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			got = append(got, m[1])
		}
		for name := range es {
			if !slices.Contains(got, name) {
				t.Errorf("internal/emu/k_%s.cpp does not register %s", module, name)
			}
		}
	}
}

// archs are the GPUs the PTX must assemble for: A100, RTX A6000 (Ampere), RTX 6000 Ada, H100.
var archs = []string{"sm_80", "sm_86", "sm_89", "sm_90"}

// TestPTX_Assembles ensures ptxas accepts every module for every target, with no spills.
func TestPTX_Assembles(t *testing.T) {
	ptxas, err := exec.LookPath("ptxas")
	if err != nil {
		t.Skip("no ptxas (Debian: nvidia-cuda-toolkit)")
	}
	files, _ := filepath.Glob("kernels/*.ptx")
	for _, arch := range archs {
		for _, f := range files {
			out, err := exec.Command(ptxas, "-arch="+arch, "-O3", "-v", "-o", os.DevNull, f).CombinedOutput()
			if err != nil {
				t.Errorf("ptxas -arch=%s %s: %v\n%s", arch, f, err, out)
				continue
			}
			if m := regexp.MustCompile(`[1-9]\d* bytes spill`).Find(out); m != nil {
				t.Errorf("ptxas -arch=%s %s: %s", arch, f, m)
			}
		}
	}
}

// TestPTX_IsGenerated ensures the committed PTX is what `go generate ./cuda` writes, where the nvcc
// it was made with (CUDA 11.8) is installed.
func TestPTX_IsGenerated(t *testing.T) {
	nvcc, err := exec.LookPath("nvcc")
	if err != nil {
		t.Skip("no nvcc (Debian: nvidia-cuda-toolkit)")
	}
	if v, _ := exec.Command(nvcc, "--version").Output(); !bytes.Contains(v, []byte("release 11.8")) {
		t.Skipf("nvcc is not CUDA 11.8, which made the committed PTX:\n%s", v)
	}
	dir := t.TempDir()
	cmd := exec.Command("sh", "kernels/generate.sh")
	cmd.Env = append(os.Environ(), "OUT="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generate.sh: %v\n%s", err, out)
	}
	files, _ := filepath.Glob("kernels/*.ptx")
	fresh, _ := filepath.Glob(filepath.Join(dir, "*.ptx"))
	if len(fresh) != len(files) {
		t.Errorf("generate.sh wrote %d PTX files, %d are committed", len(fresh), len(files))
	}
	for _, f := range files {
		want, _ := os.ReadFile(f)
		got, err := os.ReadFile(filepath.Join(dir, filepath.Base(f)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is not what go generate ./cuda writes now (%v): run it and commit the result", f, err)
		}
	}
}

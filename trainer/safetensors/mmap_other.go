//go:build !unix

package safetensors

import (
	"io"
	"os"
)

// mapFile reads the file into memory where no mmap is available; large checkpoints need a unix host.
func mapFile(f *os.File, size int64) ([]byte, error) {
	b := make([]byte, size)
	_, err := io.ReadFull(f, b)
	return b, err
}

func unmapFile([]byte) error { return nil }

package main

import (
	"fmt"
	"io"
	"runtime"
)

// version is set at build time with -ldflags "-X main.version=..."; FyneApp.toml carries the app's.
var version = "0.1.0-dev"

func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("version", "", stderr)
	if _, err := parseInterspersed(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "qlora %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

package gguf

import "fmt"

// FormatError is a file that is not valid GGUF, or not one this package reads. Its message names
// the file and the byte offset of the field at fault:
// `model.gguf: offset 24: metadata key 3: array of 18446744073709551615 elements, but only 120 bytes remain`.
type FormatError struct {
	Path   string // the file, or the name given to Parse
	Offset int64  // where the offending field starts
	Reason string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("%s: offset %d: %s", e.Path, e.Offset, e.Reason)
}

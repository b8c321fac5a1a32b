package storage

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxNameLen is the longest name, in characters.
const maxNameLen = 100

// checkName accepts the names of models, datasets, runs and presets: 1 to 100 characters with no
// path separator, no control character and no space at either end. Keeping separators out is what
// lets the command line tell a name from a path.
func checkName(kind, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: a %s needs a name", ErrInvalidName, kind)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: %s name %q is not UTF-8", ErrInvalidName, kind, name)
	case utf8.RuneCountInString(name) > maxNameLen:
		return fmt.Errorf("%w: %s name %q is longer than %d characters", ErrInvalidName, kind, name, maxNameLen)
	case name == "." || name == "..":
		return fmt.Errorf("%w: %s name %q", ErrInvalidName, kind, name)
	case strings.ContainsAny(name, `/\`):
		return fmt.Errorf("%w: %s name %q holds a path separator", ErrInvalidName, kind, name)
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("%w: %s name %q starts or ends with a space", ErrInvalidName, kind, name)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return fmt.Errorf("%w: %s name %q holds a control character", ErrInvalidName, kind, name)
	}
	return nil
}

// folderName is a folder for a record: its unique sequence number, then its name with anything
// but letters, digits, '.', '-' and '_' replaced, so that names need not be valid file names.
func folderName(seq uint64, name string) string {
	clean := strings.Map(func(r rune) rune {
		if r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' || r == '-' || r == '_') {
			return r
		}
		return '_'
	}, name)
	if len(clean) > 40 {
		clean = clean[:40]
	}
	return fmt.Sprintf("%04d-%s", seq, strings.TrimLeft(clean, "."))
}

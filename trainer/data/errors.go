package data

import (
	"errors"
	"fmt"
	"strings"
)

// ErrBadRecords is matched (errors.Is) by a *BadRecordsError: some rows of a file could not be used.
var ErrBadRecords = errors.New("bad records")

// ErrUnknownShape means the shape of a dataset could not be told from its columns.
var ErrUnknownShape = errors.New("unknown dataset shape")

// ErrNoSamples means a file held no usable row at all.
var ErrNoSamples = errors.New("no usable rows")

// DefaultMaxListed is how many bad rows a BadRecordsError lists when Options leave it zero.
const DefaultMaxListed = 100

// RecordError is one row of a file that cannot be used. Its message reads
// `train.jsonl:7: conversations[2].value: missing`.
type RecordError struct {
	File   string `json:"file"`
	Line   int    `json:"line,omitempty"`  // 1-based; the row number for Parquet; 0 for the whole file
	Field  string `json:"field,omitempty"` // as the file names it, with list indexes; "" for the whole row
	Reason string `json:"reason"`
}

func (e *RecordError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Field != "" {
		b.WriteString(": " + e.Field)
	}
	b.WriteString(": " + e.Reason)
	return b.String()
}

// fieldError is a problem with one field of a record, before the file and line are known.
type fieldError struct {
	field  string
	reason string
}

func (e *fieldError) Error() string { return e.field + ": " + e.reason }

func fieldErrorf(field, format string, args ...any) *fieldError {
	return &fieldError{field: field, reason: fmt.Sprintf(format, args...)}
}

// at places a field error at a row of a file.
func (e *fieldError) at(file string, line int) *RecordError {
	return &RecordError{File: file, Line: line, Field: e.field, Reason: e.reason}
}

// BadRecordsError says how many rows of a file could not be used and lists the first of them.
type BadRecordsError struct {
	File   string
	Count  int            // every bad row
	Listed []*RecordError // the first ones, up to the limit the Options set
}

func (e *BadRecordsError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d bad %s", e.File, e.Count, plural(e.Count, "row", "rows"))
	for _, r := range e.Listed {
		b.WriteString("\n  " + r.Error())
	}
	if more := e.Count - len(e.Listed); more > 0 {
		fmt.Fprintf(&b, "\n  ... and %d more", more)
	}
	b.WriteString("\nfix them, or accept skipping them to train on the good rows")
	return b.String()
}

func (e *BadRecordsError) Is(target error) bool { return target == ErrBadRecords }

// badList collects bad rows, keeping the first max of them and counting all.
type badList struct {
	max    int
	count  int
	listed []*RecordError
}

func (l *badList) add(e *RecordError) {
	l.count++
	if len(l.listed) < l.max {
		l.listed = append(l.listed, e)
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

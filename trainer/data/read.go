package data

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"
)

// FileFormat is how a dataset file is written.
type FileFormat string

const (
	FormatJSONL   FileFormat = "jsonl"   // one JSON object per line (.jsonl, .ndjson)
	FormatJSON    FileFormat = "json"    // a JSON array of objects, or an object holding one (.json)
	FormatCSV     FileFormat = "csv"     // comma-separated with a header row (.csv)
	FormatTSV     FileFormat = "tsv"     // tab-separated with a header row (.tsv)
	FormatParquet FileFormat = "parquet" // Apache Parquet (.parquet)
)

// Record is one row of a dataset file as its parser read it. Field values are JSON values
// (string, json.Number, bool, nil, []any, map[string]any); CSV cells are strings, Parquet values
// Go's integers, floats, strings, lists and maps.
type Record struct {
	Line   int // 1-based line where the row starts; the row number for Parquet
	Fields map[string]any
}

// Table is what a dataset file held: its good rows, and its bad ones counted and listed.
type Table struct {
	File     string
	Format   FileFormat
	Records  []Record
	Bad      []*RecordError // the first bad rows, up to the limit
	BadCount int            // every bad row
}

// Columns are the column names seen in the first rows, sorted.
func (t *Table) Columns() []string {
	seen := map[string]bool{}
	for i, r := range t.Records {
		if i == detectRows {
			break
		}
		for k := range r.Fields {
			seen[k] = true
		}
	}
	names := make([]string, 0, len(seen))
	for k := range seen {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// reading is the state a parser fills: the file's name for errors, rows good and bad.
type reading struct {
	file    string
	records []Record
	bad     badList
}

func (rd *reading) good(line int, fields map[string]any) {
	rd.records = append(rd.records, Record{Line: line, Fields: fields})
}

func (rd *reading) badRow(line int, field, format string, args ...any) {
	rd.bad.add(&RecordError{File: rd.file, Line: line, Field: field, Reason: fmt.Sprintf(format, args...)})
}

// ReadFile reads a dataset file. format "" takes it from the extension. maxListed bounds the bad
// rows listed (0: DefaultMaxListed); every bad row is counted. An error means the file as a whole
// could not be read: missing, not UTF-8 text, not the format it claims.
func ReadFile(path string, format FileFormat, maxListed int) (*Table, error) {
	if format == "" {
		var err error
		if format, err = FormatOf(path); err != nil {
			return nil, err
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ReadBytes(data, path, format, maxListed)
}

// ReadBytes reads a dataset held in memory; file names it in errors.
func ReadBytes(data []byte, file string, format FileFormat, maxListed int) (*Table, error) {
	if maxListed <= 0 {
		maxListed = DefaultMaxListed
	}
	rd := &reading{file: file, bad: badList{max: maxListed}}
	var err error
	switch format {
	case FormatParquet:
		err = readParquet(data, rd)
	case FormatJSONL, FormatJSON, FormatCSV, FormatTSV:
		err = readText(data, format, rd)
	default:
		return nil, fmt.Errorf("%s: unknown file format %q (jsonl, json, csv, tsv, parquet)", file, format)
	}
	if err != nil {
		return nil, err
	}
	return &Table{File: file, Format: format, Records: rd.records, Bad: rd.bad.listed, BadCount: rd.bad.count}, nil
}

func readText(data []byte, format FileFormat, rd *reading) error {
	data, err := textEncoding(data, rd.file)
	if err != nil {
		return err
	}
	switch format {
	case FormatJSONL:
		readJSONLines(data, 1, rd)
		return nil
	case FormatJSON:
		return readJSON(data, rd)
	case FormatCSV:
		return readCSV(data, ',', rd)
	default:
		return readCSV(data, '\t', rd)
	}
}

// FormatOf is the file format its extension names.
func FormatOf(path string) (FileFormat, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".jsonl", ".ndjson":
		return FormatJSONL, nil
	case ".json":
		return FormatJSON, nil
	case ".csv":
		return FormatCSV, nil
	case ".tsv":
		return FormatTSV, nil
	case ".parquet":
		return FormatParquet, nil
	}
	return "", fmt.Errorf("%s: cannot tell the file format from its extension; name it .jsonl, .json, .csv, .tsv or .parquet, or give the format", path)
}

// textEncoding refuses text that is not UTF-8 as a whole (UTF-16 or UTF-32, binary) and strips a
// UTF-8 byte-order mark. Stray invalid bytes are left for the parsers to report line by line.
func textEncoding(data []byte, file string) ([]byte, error) {
	switch {
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		return data[3:], nil
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}), bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		return nil, &RecordError{File: file, Reason: "the file is UTF-16 (it starts with a UTF-16 byte-order mark); save it as UTF-8"}
	}
	head := data[:min(len(data), 8192)]
	if i := bytes.IndexByte(head, 0); i >= 0 {
		return nil, &RecordError{File: file, Line: lineAt(data, i), Reason: "the file has NUL bytes: it is binary, or UTF-16/UTF-32 text; save it as UTF-8"}
	}
	return data, nil
}

// invalidUTF8 is the offset of the first byte of b that is not UTF-8, or -1 when b is valid.
func invalidUTF8(b []byte) int {
	if utf8.Valid(b) {
		return -1
	}
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}

// notUTF8 is the reason given for an invalid byte at offset of text that starts a line.
func notUTF8(text []byte, offset int) string {
	return fmt.Sprintf("not UTF-8: byte 0x%02X at column %d; save the file as UTF-8", text[offset], columnAt(text, offset))
}

// columnAt is the 1-based column, in characters, of byte offset in text that starts a line.
func columnAt(text []byte, offset int) int {
	offset = min(offset, len(text))
	start := bytes.LastIndexByte(text[:offset], '\n') + 1
	return utf8.RuneCount(text[start:offset]) + 1
}

// lineAt is the 1-based line of byte offset in data.
func lineAt(data []byte, offset int) int {
	return bytes.Count(data[:min(offset, len(data))], []byte{'\n'}) + 1
}

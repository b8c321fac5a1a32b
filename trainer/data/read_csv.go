package data

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// readCSV reads a delimited file whose first row names the columns. Every cell is a string; a
// column holding JSON (a list of token ids, a conversation) is decoded where a field needs it.
func readCSV(data []byte, comma rune, rd *reading) error {
	r := csv.NewReader(bytes.NewReader(data))
	r.Comma = comma
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return csvFileError(err, rd.file)
	}
	if err := checkHeader(header, data, rd.file); err != nil {
		return err
	}
	for {
		row, err := r.Read()
		if err == io.EOF {
			return nil
		}
		var parse *csv.ParseError
		if errors.As(err, &parse) {
			rd.badRow(parse.StartLine, "", "invalid CSV at column %d: %v", parse.Column, parse.Err)
			continue
		}
		if err != nil {
			return csvFileError(err, rd.file)
		}
		line, _ := r.FieldPos(0)
		csvRow(header, row, line, rd)
	}
}

// csvRow adds one row, or reports it when its cell count or encoding is wrong.
func csvRow(header, row []string, line int, rd *reading) {
	if len(row) == 1 && row[0] == "" && len(header) > 1 {
		return // a blank line
	}
	if len(row) != len(header) {
		rd.badRow(line, "", "%d %s, the header has %d", len(row), plural(len(row), "cell", "cells"), len(header))
		return
	}
	fields := make(map[string]any, len(header))
	for i, cell := range row {
		if !utf8.ValidString(cell) {
			at := invalidUTF8([]byte(cell))
			rd.badRow(line, header[i], "not UTF-8: byte 0x%02X; save the file as UTF-8", cell[at])
			return
		}
		fields[header[i]] = cell
	}
	rd.good(line, fields)
}

// checkHeader refuses a header with an empty, duplicated or non-UTF-8 column name.
func checkHeader(header []string, data []byte, file string) error {
	seen := map[string]int{}
	for i, name := range header {
		reason := ""
		switch {
		case !utf8.ValidString(name):
			reason = "not UTF-8; save the file as UTF-8"
		case name == "":
			reason = "has no name"
		case seen[name] > 0:
			reason = fmt.Sprintf("has the same name as column %d", seen[name])
		}
		if reason != "" {
			return &RecordError{File: file, Line: 1, Field: fmt.Sprintf("column %d (%q)", i+1, name), Reason: "header: " + reason}
		}
		seen[name] = i + 1
	}
	return nil
}

func csvFileError(err error, file string) error {
	var parse *csv.ParseError
	if errors.As(err, &parse) {
		return &RecordError{File: file, Line: parse.StartLine, Reason: fmt.Sprintf("invalid CSV at column %d: %v", parse.Column, parse.Err)}
	}
	return &RecordError{File: file, Reason: err.Error()}
}

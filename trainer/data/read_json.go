package data

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// readJSONLines reads one JSON object per line; firstLine numbers the first line of data. Blank
// lines are skipped; every other line that is not a JSON object is a bad row.
func readJSONLines(data []byte, firstLine int, rd *reading) {
	line := firstLine - 1
	for len(data) > 0 {
		line++
		text := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			text, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		text = bytes.TrimSuffix(text, []byte{'\r'})
		if len(bytes.TrimSpace(text)) == 0 {
			continue
		}
		fields, offset, reason := parseObject(text)
		if reason != "" {
			rd.badRow(line+bytes.Count(text[:offset], []byte{'\n'}), "", "%s", reason)
			continue
		}
		rd.good(line, fields)
	}
}

// parseObject decodes raw as one JSON object. On failure it says why and at which byte of raw.
// Numbers stay json.Number, so token ids keep their exact value.
func parseObject(raw []byte) (fields map[string]any, offset int, reason string) {
	if i := invalidUTF8(raw); i >= 0 {
		return nil, i, notUTF8(raw, i)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		offset, what := jsonProblem(raw, err)
		return nil, offset, invalidJSON(raw, offset, what)
	}
	end := int(dec.InputOffset())
	if _, err := dec.Token(); err != io.EOF {
		off := skipSpace(raw, end)
		return nil, off, invalidJSON(raw, off, "text after the object (one object per line)")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, 0, fmt.Sprintf("a JSON object was expected, found %s", jsonKind(v))
	}
	return obj, 0, ""
}

// jsonProblem turns a decoding error of raw into the offset where it happened and what happened.
func jsonProblem(raw []byte, err error) (offset int, what string) {
	var syntax *json.SyntaxError
	switch {
	case errors.As(err, &syntax):
		return min(max(int(syntax.Offset)-1, 0), len(raw)), syntax.Error()
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return len(raw), "the JSON ends early"
	}
	return 0, err.Error()
}

// invalidJSON is the reason for a decoding error at offset of text.
func invalidJSON(text []byte, offset int, what string) string {
	return fmt.Sprintf("invalid JSON at column %d: %s", columnAt(text, offset), what)
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number, float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// readJSON reads a .json file: an array of objects; an object whose one key holds such an array
// ({"data": [...]}, as some exporters write); or, when it starts with '{' and holds several
// objects, JSON Lines (Hugging Face's to_json writes JSON Lines into .json files).
func readJSON(data []byte, rd *reading) error {
	start := len(data) - len(bytes.TrimLeft(data, " \t\r\n"))
	if start == len(data) {
		return nil
	}
	switch data[start] {
	case '[':
		return readJSONArray(data, start, false, rd)
	case '{':
		if at, ok := wrappedArray(data); ok {
			return readJSONArray(data, at, true, rd)
		}
		readJSONLines(data, 1, rd)
		return nil
	}
	return &RecordError{File: rd.file, Line: lineAt(data, start), Reason: "a JSON array of objects was expected"}
}

// wrappedArray finds the array of a file that is one object with a single key holding an array.
func wrappedArray(data []byte) (offset int, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var whole map[string]json.RawMessage
	if dec.Decode(&whole) != nil || len(whole) != 1 {
		return 0, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return 0, false
	}
	dec = json.NewDecoder(bytes.NewReader(data))
	dec.Token() // {
	dec.Token() // the key
	offset = skipSpace(data, int(dec.InputOffset()))
	if offset < len(data) && data[offset] == ':' {
		offset = skipSpace(data, offset+1)
	}
	return offset, offset < len(data) && data[offset] == '['
}

// readJSONArray reads the array starting at offset. Each element is a row whose line is where it
// starts. A syntax error ends the reading (nothing after it can be trusted) and fails the file.
// wrapped allows the closing brace of an object holding the array after it.
func readJSONArray(data []byte, offset int, wrapped bool, rd *reading) error {
	dec := json.NewDecoder(bytes.NewReader(data[offset:]))
	if _, err := dec.Token(); err != nil {
		return jsonFileError(data, offset, err, rd.file)
	}
	for dec.More() {
		at := skipSpace(data, elementScanStart(data, offset+int(dec.InputOffset())))
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return elementError(data, at, err, rd.file)
		}
		line := lineAt(data, at)
		fields, off, reason := parseObject(raw)
		if reason != "" {
			rd.badRow(line+bytes.Count(raw[:off], []byte{'\n'}), "", "%s", reason)
			continue
		}
		rd.good(line, fields)
	}
	if _, err := dec.Token(); err != nil {
		return jsonFileError(data, offset, err, rd.file)
	}
	rest := bytes.TrimSpace(data[offset+int(dec.InputOffset()):])
	if wrapped {
		rest = bytes.TrimSpace(bytes.TrimPrefix(rest, []byte("}")))
	}
	if len(rest) > 0 {
		return &RecordError{File: rd.file, Line: lineAt(data, len(data)-len(rest)), Reason: "text after the JSON array"}
	}
	return nil
}

// elementScanStart is where the next element of an array is read from when the previous token
// ended at from: past the comma between them, if there is one.
func elementScanStart(data []byte, from int) int {
	i := skipSpace(data, from)
	if i < len(data) && data[i] == ',' {
		return i + 1
	}
	return from
}

// elementError places an error reading the array element at offset at. json.Decoder's offsets mix
// counts from the stream's start and from the value's, so the element is decoded alone to find
// where it breaks; when it decodes alone, what is wrong is the separator before it.
func elementError(data []byte, at int, err error, file string) error {
	var raw json.RawMessage
	if alone := json.NewDecoder(bytes.NewReader(data[at:])).Decode(&raw); alone != nil {
		return jsonFileError(data, at, alone, file)
	}
	_, what := jsonProblem(nil, err)
	return &RecordError{File: file, Line: lineAt(data, at), Reason: invalidJSON(data, at, what) + " (the JSON array cannot be read past it)"}
}

// jsonFileError places a syntax error of the array that starts at base: the array cannot be read
// past it.
func jsonFileError(data []byte, base int, err error, file string) error {
	off, what := jsonProblem(data[base:], err)
	at := base + off
	return &RecordError{File: file, Line: lineAt(data, at), Reason: invalidJSON(data, at, what) + " (the JSON array cannot be read past it)"}
}

// skipSpace moves from offset past JSON white space.
func skipSpace(data []byte, offset int) int {
	for offset < len(data) && (data[offset] == ' ' || data[offset] == '\t' || data[offset] == '\r' || data[offset] == '\n') {
		offset++
	}
	return offset
}

package lora

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/qlora-studio/qlora-studio/internal/pyfloat"
)

// This file prints JSON byte for byte as Python's json.dumps(v, indent=2, sort_keys=True) does, so
// that the adapter_config.json we write is the one PEFT would have written: "," at line ends and
// ": " between key and value, keys sorted by code point at every depth, "{}" and "[]" for empty
// containers, non-ASCII (and DEL) escaped as lowercase \uXXXX with surrogate pairs, floats in
// Python's repr, no newline at the end.

// encodePython returns v printed as json.dumps(v, indent=2, sort_keys=True).
func encodePython(v any) ([]byte, error) {
	return appendPython(nil, v, 0)
}

// appendPython appends v at the given nesting depth. It accepts the values encoding/json decodes
// into with UseNumber (nil, bool, string, json.Number, []any, map[string]any) plus int, float64,
// []string and []int.
func appendPython(b []byte, v any, depth int) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case string:
		return appendPythonString(b, v), nil
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case float64:
		return append(b, pyfloat.Repr(v)...), nil
	case json.Number:
		return append(b, pythonNumber(v)...), nil
	case []string:
		return appendPythonList(b, len(v), depth, func(b []byte, i int) ([]byte, error) { return appendPythonString(b, v[i]), nil })
	case []int:
		return appendPythonList(b, len(v), depth, func(b []byte, i int) ([]byte, error) { return strconv.AppendInt(b, int64(v[i]), 10), nil })
	case []any:
		return appendPythonList(b, len(v), depth, func(b []byte, i int) ([]byte, error) { return appendPython(b, v[i], depth+1) })
	case map[string]any:
		return appendPythonDict(b, v, depth)
	}
	return nil, fmt.Errorf("cannot print %T as JSON", v)
}

func newline(b []byte, depth int) []byte {
	b = append(b, '\n')
	for range depth {
		b = append(b, "  "...)
	}
	return b
}

func appendPythonList(b []byte, n, depth int, item func([]byte, int) ([]byte, error)) ([]byte, error) {
	if n == 0 {
		return append(b, "[]"...), nil
	}
	b = append(b, '[')
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = newline(b, depth+1)
		var err error
		if b, err = item(b, i); err != nil {
			return nil, err
		}
	}
	return append(newline(b, depth), ']'), nil
}

func appendPythonDict(b []byte, m map[string]any, depth int) ([]byte, error) {
	if len(m) == 0 {
		return append(b, "{}"...), nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys) // byte order of UTF-8 is code point order, which is how Python sorts str
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = newline(b, depth+1)
		b = append(appendPythonString(b, k), ": "...)
		var err error
		if b, err = appendPython(b, m[k], depth+1); err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
	}
	return append(newline(b, depth), '}'), nil
}

// appendPythonString quotes s as json.dumps does with ensure_ascii=True.
func appendPythonString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	u := func(b []byte, r rune) []byte {
		return append(b, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
	}
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r == '\n':
			b = append(b, `\n`...)
		case r == '\r':
			b = append(b, `\r`...)
		case r == '\t':
			b = append(b, `\t`...)
		case r == '\b':
			b = append(b, `\b`...)
		case r == '\f':
			b = append(b, `\f`...)
		case r >= 0x20 && r < 0x7f:
			b = append(b, byte(r))
		case r < 0x10000:
			b = u(b, r)
		default:
			hi, lo := utf16.EncodeRune(r)
			b = u(u(b, hi), lo)
		}
	}
	return append(b, '"')
}

// pythonNumber prints a number from a JSON file as Python reads and writes it back: an integer
// literal stays an int (Python's are unbounded), anything else becomes a float. A float beyond
// float64's range, which Python would print as Infinity (not JSON), keeps its literal instead.
func pythonNumber(n json.Number) string {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		if s == "-0" {
			return "0"
		}
		return s
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return s
	}
	return pyfloat.Repr(f)
}

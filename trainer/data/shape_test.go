package data

import (
	"errors"
	"strings"
	"testing"
)

func records(rows ...map[string]any) []Record {
	out := make([]Record, len(rows))
	for i, r := range rows {
		out[i] = Record{Line: i + 1, Fields: r}
	}
	return out
}

// TestDetectShape ensures each shape is told from its columns, a mapping renames them, and the
// majority of the first rows wins over an odd row.
func TestDetectShape(t *testing.T) {
	cases := []struct {
		name string
		rows []map[string]any
		cols Columns
		want Shape
	}{
		{"alpaca", []map[string]any{{"instruction": "a", "input": "", "output": "b"}}, nil, ShapeAlpaca},
		{"alpaca without input", []map[string]any{{"instruction": "a", "output": "b"}}, nil, ShapeAlpaca},
		{"sharegpt", []map[string]any{{"conversations": []any{}}}, nil, ShapeShareGPT},
		{"messages", []map[string]any{{"messages": []any{}, "id": 3}}, nil, ShapeMessages},
		{"completion", []map[string]any{{"prompt": "a", "completion": "b"}}, nil, ShapeCompletion},
		{"text", []map[string]any{{"text": "a", "meta": "x"}}, nil, ShapeText},
		{"tokenized", []map[string]any{{"input_ids": []any{}, "labels": []any{}, "text": "a"}}, nil, ShapeTokenized},
		{"mapped alpaca", []map[string]any{{"question": "a", "answer": "b"}}, Columns{"instruction": "question", "output": "answer"}, ShapeAlpaca},
		{"mapped messages", []map[string]any{{"chat": []any{}}}, Columns{"messages": "chat"}, ShapeMessages},
		{"majority", []map[string]any{{"text": "a"}, {"prompt": "a", "completion": "b"}, {"prompt": "c", "completion": "d"}}, nil, ShapeCompletion},
		{"tie to the earlier shape", []map[string]any{{"text": "a"}, {"messages": []any{}}}, nil, ShapeMessages},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := DetectShape(records(c.rows...), c.cols)
			if err != nil || got != c.want {
				t.Errorf("DetectShape = %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

// TestDetectShape_Unknown ensures rows of no known shape fail, listing the columns to map.
func TestDetectShape_Unknown(t *testing.T) {
	_, err := DetectShape(records(map[string]any{"question": "a", "answer": "b"}), nil)
	if !errors.Is(err, ErrUnknownShape) || !strings.Contains(err.Error(), "the columns are answer, question") {
		t.Errorf("error %v", err)
	}
	_, err = DetectShape(nil, nil)
	if !errors.Is(err, ErrUnknownShape) || !strings.Contains(err.Error(), "the columns are none") {
		t.Errorf("empty: error %v", err)
	}
}

// TestParseShape ensures names and the usual aliases are read, and an unknown one is refused.
func TestParseShape(t *testing.T) {
	for name, want := range map[string]Shape{"": "", "auto": "", "Alpaca": ShapeAlpaca, "sharegpt": ShapeShareGPT,
		"chat_template": ShapeMessages, "prompt_completion": ShapeCompletion, "pretokenized": ShapeTokenized,
		" text ": ShapeText, "input_output": ShapeCompletion} {
		if got, err := ParseShape(name); got != want || err != nil {
			t.Errorf("ParseShape(%q) = %q, %v", name, got, err)
		}
	}
	if _, err := ParseShape("xml"); err == nil || !strings.Contains(err.Error(), "one of auto, tokenized, sharegpt") {
		t.Errorf("ParseShape(xml): %v", err)
	}
}

// TestParseColumns ensures field=column pairs are read and bad ones refused.
func TestParseColumns(t *testing.T) {
	c, err := ParseColumns([]string{"instruction=question", " output = answer "})
	if err != nil || c["instruction"] != "question" || c["output"] != "answer" || c.name("input") != "input" {
		t.Errorf("ParseColumns = %v, %v", c, err)
	}
	for _, bad := range []string{"instruction", "=x", "x=", "question=instruction"} {
		if _, err := ParseColumns([]string{bad}); err == nil {
			t.Errorf("ParseColumns(%q) accepted", bad)
		}
	}
}

package data

import (
	"errors"
	"reflect"
	"testing"
)

// TestExamples_GoodRowsAndBadListed ensures Examples detects the shape, returns the good rows'
// examples in file order, and lists the rows that do not fit the shape with those the parser
// refused, in line order.
func TestExamples_GoodRowsAndBadListed(t *testing.T) {
	tab, err := ReadBytes([]byte(`{"prompt": "P1", "completion": "C1"}
{"prompt": "P2"}
not json
{"prompt": "", "completion": "C4"}
`), "f.jsonl", FormatJSONL, 0)
	if err != nil {
		t.Fatal(err)
	}
	shape, exs, err := Examples(tab, "", nil)
	if shape != ShapeCompletion {
		t.Errorf("shape %s, want completion", shape)
	}
	want := []Example{{Line: 1, Prompt: "P1", Completion: "C1"}, {Line: 4, Prompt: "", Completion: "C4"}}
	if !reflect.DeepEqual(exs, want) {
		t.Errorf("examples %+v, want %+v", exs, want)
	}
	var bad *BadRecordsError
	if !errors.As(err, &bad) || bad.Count != 2 || bad.Listed[0].Line != 2 || bad.Listed[1].Line != 3 {
		t.Errorf("bad rows: %v", err)
	}
}

package data

import (
	"bytes"
	"strings"
	"testing"
)

// The fuzz targets' seed corpora are under testdata/fuzz/<target>. Run one with
//
//	go test ./trainer/data -run '^$' -fuzz FuzzReadJSONL -fuzztime 1m

// FuzzReadJSONL ensures JSON Lines of any bytes read without panicking, every row good or bad at
// a real line, in order.
func FuzzReadJSONL(f *testing.F) {
	f.Add([]byte(`{"text": "a"}` + "\n" + `{"text": ` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) { checkTable(t, data, FormatJSONL) })
}

// FuzzReadJSON ensures a .json file of any bytes reads or fails cleanly, never panicking.
func FuzzReadJSON(f *testing.F) {
	f.Add([]byte(`[{"text": "a"}, 3]`))
	f.Fuzz(func(t *testing.T, data []byte) { checkTable(t, data, FormatJSON) })
}

// FuzzReadCSV ensures CSV of any bytes reads or fails cleanly, never panicking.
func FuzzReadCSV(f *testing.F) {
	f.Add([]byte("text,output\na,\"b\nc\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) { checkTable(t, data, FormatCSV) })
}

func checkTable(t *testing.T, data []byte, format FileFormat) {
	tab, err := ReadBytes(data, "fuzz", format, 5)
	if err != nil {
		if !strings.HasPrefix(err.Error(), "fuzz") {
			t.Fatalf("error without the file name: %v", err)
		}
		return
	}
	lastLine := bytes.Count(data, []byte{'\n'}) + 1
	prev := 0
	for _, r := range tab.Records {
		if r.Line < 1 || r.Line > lastLine || r.Line < prev || r.Fields == nil {
			t.Fatalf("record at line %d (previous %d, last %d): %v", r.Line, prev, lastLine, r.Fields)
		}
		prev = r.Line
	}
	if len(tab.Bad) > 5 || tab.BadCount < len(tab.Bad) {
		t.Fatalf("%d listed of %d bad", len(tab.Bad), tab.BadCount)
	}
	for _, e := range tab.Bad {
		if e.File != "fuzz" || e.Line < 1 || e.Line > lastLine || e.Reason == "" {
			t.Fatalf("bad row %+v (last line %d)", e, lastLine)
		}
	}
}

// FuzzDetectShape ensures rows of any content go through detection, reading in the detected
// shape, tokenization and batching without panicking, and every row ends up a sample or a bad row.
func FuzzDetectShape(f *testing.F) {
	f.Add([]byte(`{"instruction": "Hi", "output": "Hello"}`))
	tpl := chatml(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := ReadBytes(data, "fuzz", FormatJSONL, 0)
		if err != nil {
			return
		}
		shape, err := DetectShape(tab.Records, nil)
		if err != nil {
			return
		}
		ds, err := FromTable(tab, tiny, Options{Shape: shape, Template: tpl, MaxLength: 16, SkipBad: true})
		if err != nil {
			return
		}
		if len(ds.Samples)+ds.Stats.NoTargets+ds.BadCount != ds.Stats.Rows {
			t.Fatalf("%d samples + %d without targets + %d bad != %d rows", len(ds.Samples), ds.Stats.NoTargets, ds.BadCount, ds.Stats.Rows)
		}
		l, err := NewLoader(ds.Samples, LoaderConfig{BatchSize: 2, MaxLength: 16, Packing: true, Shuffle: true})
		if err != nil {
			t.Fatal(err)
		}
		counted := 0
		for step := range l.Len() {
			counted += l.Batch(Position{Step: step}).Counted()
		}
		if counted != l.Tokens() {
			t.Fatalf("counted %d, Tokens %d", counted, l.Tokens())
		}
	})
}

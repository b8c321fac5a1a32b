package data

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// alpacaRow is the row every format below holds three of.
type alpacaRow struct {
	Instruction string `parquet:"instruction" json:"instruction"`
	Input       string `parquet:"input" json:"input"`
	Output      string `parquet:"output" json:"output"`
}

var alpacaRows = []alpacaRow{
	{"Say hello.", "", "Hello!"},
	{"Add the numbers.", "2, 3", "5"},
	{"Write two lines.", "", "one\ntwo, \"quoted\""},
}

func parquetBytes(t testing.TB, rows any) []byte {
	t.Helper()
	var buf bytes.Buffer
	var err error
	switch r := rows.(type) {
	case []alpacaRow:
		err = parquet.Write(&buf, r)
	case []tokenizedRow:
		err = parquet.Write(&buf, r)
	case []textRow:
		err = parquet.Write(&buf, r)
	case []chatRow:
		err = parquet.Write(&buf, r)
	default:
		t.Fatalf("parquetBytes: %T", rows)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type tokenizedRow struct {
	InputIDs []int64 `parquet:"input_ids,list"`
	Labels   []int64 `parquet:"labels,list"`
}

type textRow struct {
	Text string `parquet:"text"`
}

type chatTurn struct {
	From  string `parquet:"from"`
	Value string `parquet:"value"`
}

type chatRow struct {
	Conversations []chatTurn `parquet:"conversations,list"`
}

// TestReadBytes_EveryFormat ensures the same rows read alike from every file format, each with the
// line where it starts (blank lines skipped, quoted new lines kept inside a cell).
func TestReadBytes_EveryFormat(t *testing.T) {
	jsonl := lines(
		`{"instruction": "Say hello.", "input": "", "output": "Hello!"}`,
		``,
		`{"instruction": "Add the numbers.", "input": "2, 3", "output": "5"}`,
		`{"instruction": "Write two lines.", "input": "", "output": "one\ntwo, \"quoted\""}`)
	array := "[\n" + strings.Join([]string{
		`  {"instruction": "Say hello.", "input": "", "output": "Hello!"}`,
		"  {\n    \"instruction\": \"Add the numbers.\",\n    \"input\": \"2, 3\",\n    \"output\": \"5\"\n  }",
		`  {"instruction": "Write two lines.", "input": "", "output": "one\ntwo, \"quoted\""}`,
	}, ",\n") + "\n]\n"
	csvText := "instruction,input,output\r\nSay hello.,,Hello!\r\nAdd the numbers.,\"2, 3\",5\r\nWrite two lines.,,\"one\ntwo, \"\"quoted\"\"\"\r\n"
	tsv := "instruction\tinput\toutput\nSay hello.\t\tHello!\nAdd the numbers.\t2, 3\t5\nWrite two lines.\t\t\"one\ntwo, \"\"quoted\"\"\"\n"
	cases := []struct {
		name   string
		format FileFormat
		data   []byte
		lines  []int
	}{
		{"jsonl", FormatJSONL, []byte(jsonl), []int{1, 3, 4}},
		{"jsonl with a BOM and CRLF", FormatJSONL, []byte("\xEF\xBB\xBF" + strings.ReplaceAll(jsonl, "\n", "\r\n")), []int{1, 3, 4}},
		{"json array", FormatJSON, []byte(array), []int{2, 3, 8}},
		{"json wrapped", FormatJSON, []byte(`{"data": ` + array + `}`), []int{2, 3, 8}},
		{"json holding json lines", FormatJSON, []byte(jsonl), []int{1, 3, 4}},
		{"csv", FormatCSV, []byte(csvText), []int{2, 3, 4}},
		{"tsv", FormatTSV, []byte(tsv), []int{2, 3, 4}},
		{"parquet", FormatParquet, parquetBytes(t, alpacaRows), []int{1, 2, 3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tab, err := ReadBytes(c.data, "f", c.format, 0)
			if err != nil {
				t.Fatal(err)
			}
			if tab.BadCount != 0 {
				t.Fatalf("bad rows: %v", tab.Bad)
			}
			var got []alpacaRow
			var gotLines []int
			for _, r := range tab.Records {
				got = append(got, alpacaRow{r.Fields["instruction"].(string), r.Fields["input"].(string), r.Fields["output"].(string)})
				gotLines = append(gotLines, r.Line)
			}
			if !reflect.DeepEqual(got, alpacaRows) {
				t.Errorf("rows %q", got)
			}
			if !reflect.DeepEqual(gotLines, c.lines) {
				t.Errorf("lines %v, want %v", gotLines, c.lines)
			}
			if cols := tab.Columns(); !reflect.DeepEqual(cols, []string{"input", "instruction", "output"}) {
				t.Errorf("columns %v", cols)
			}
		})
	}
}

// TestReadBytes_BadRows ensures every kind of bad row is reported with its line, field and reason,
// and the good rows around it are kept.
func TestReadBytes_BadRows(t *testing.T) {
	good := `{"text": "ok"}`
	cases := []struct {
		name   string
		format FileFormat
		data   string
		want   string // the error of the bad row
		kept   int    // good rows
	}{
		{"jsonl: not JSON", FormatJSONL, lines(good, `{"text": "a",}`, good), `f:2: invalid JSON at column 14: invalid character '}' looking for beginning of object key string`, 2},
		{"jsonl: cut short", FormatJSONL, lines(good, good, `{"text": "a"`), `f:3: invalid JSON at column 13: the JSON ends early`, 2},
		{"jsonl: not an object", FormatJSONL, lines(`["text"]`, good), `f:1: a JSON object was expected, found an array`, 1},
		{"jsonl: two objects", FormatJSONL, lines(good, `{"text": "a"} {"text": "b"}`), `f:2: invalid JSON at column 15: text after the object (one object per line)`, 1},
		{"jsonl: not UTF-8", FormatJSONL, lines(good, good, good, "{\"text\": \"caf\xe9\"}"), `f:4: not UTF-8: byte 0xE9 at column 14; save the file as UTF-8`, 3},
		{"json: element not an object", FormatJSON, "[\n" + good + ",\n 7,\n" + good + "\n]", `f:3: a JSON object was expected, found a number`, 2},
		{"json: element not UTF-8", FormatJSON, "[\n" + good + ",\n{\"text\":\n \"\xff\"}\n]", `f:4: not UTF-8: byte 0xFF at column 3; save the file as UTF-8`, 1},
		{"csv: cell count", FormatCSV, "text,output\na,b\nc\nd,e\n", `f:3: 1 cell, the header has 2`, 2},
		{"csv: bare quote", FormatCSV, "text\na\nb\"c\nd\n", `f:3: invalid CSV at column 2: bare " in non-quoted-field`, 2},
		{"csv: not UTF-8", FormatCSV, "text,output\na,b\nc,\xe9\n", `f:3: output: not UTF-8: byte 0xE9; save the file as UTF-8`, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tab, err := ReadBytes([]byte(c.data), "f", c.format, 0)
			if err != nil {
				t.Fatal(err)
			}
			if tab.BadCount != 1 || len(tab.Bad) != 1 {
				t.Fatalf("bad rows %d %v, want one", tab.BadCount, tab.Bad)
			}
			if got := tab.Bad[0].Error(); got != c.want {
				t.Errorf("error\n got %s\nwant %s", got, c.want)
			}
			if len(tab.Records) != c.kept {
				t.Errorf("%d good rows, want %d", len(tab.Records), c.kept)
			}
		})
	}
}

// TestReadBytes_BadFiles ensures a file that cannot be read as a whole fails, naming the file
// and, where there is one, the line.
func TestReadBytes_BadFiles(t *testing.T) {
	cases := []struct {
		name   string
		format FileFormat
		data   string
		want   string
	}{
		{"utf-16", FormatJSONL, "\xff\xfe{\x00}\x00", "f: the file is UTF-16 (it starts with a UTF-16 byte-order mark); save it as UTF-8"},
		{"nul bytes", FormatCSV, "text\nab\x00c\n", "f:2: the file has NUL bytes: it is binary, or UTF-16/UTF-32 text; save it as UTF-8"},
		{"json: syntax", FormatJSON, "[\n {\"text\": \"a\"},\n {\"text\" \"b\"}\n]", `f:3: invalid JSON at column 10: invalid character '"' after object key (the JSON array cannot be read past it)`},
		{"json: unclosed", FormatJSON, "[\n {\"text\": \"a\"}", `f:2: invalid JSON at column 15: the JSON ends early (the JSON array cannot be read past it)`},
		{"json: no comma", FormatJSON, "[\n {\"text\": \"a\"}\n {\"text\": \"b\"}\n]", `f:3: invalid JSON at column 2: expected comma after array element (the JSON array cannot be read past it)`},
		{"json: trailing comma", FormatJSON, "[\n {\"text\": \"a\"},\n]", `f:3: invalid JSON at column 1: invalid character ']' looking for beginning of value (the JSON array cannot be read past it)`},
		{"json: text after", FormatJSON, "[]\nxyz", `f:2: text after the JSON array`},
		{"json: a string", FormatJSON, "\n\n\"text\"", `f:3: a JSON array of objects was expected`},
		{"csv: duplicate column", FormatCSV, "text,text\na,b\n", `f:1: column 2 ("text"): header: has the same name as column 1`},
		{"csv: empty column name", FormatCSV, "text,\na,b\n", `f:1: column 2 (""): header: has no name`},
		{"parquet: not parquet", FormatParquet, "PAR1 nonsense", "f: not a readable Parquet file"},
		{"unknown format", "xml", "<x/>", `f: unknown file format "xml"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadBytes([]byte(c.data), "f", c.format, 0)
			if err == nil || !strings.HasPrefix(err.Error(), c.want) {
				t.Errorf("error\n got %v\nwant %s", err, c.want)
			}
		})
	}
}

// TestReadBytes_ListsUpToTheLimit ensures every bad row is counted and the first ones listed, in
// file order.
func TestReadBytes_ListsUpToTheLimit(t *testing.T) {
	var b strings.Builder
	for i := range 150 {
		fmt.Fprintf(&b, "{\"text\": \"%d\"}\nnot json\n", i)
	}
	tab, err := ReadBytes([]byte(b.String()), "f", FormatJSONL, 10)
	if err != nil {
		t.Fatal(err)
	}
	if tab.BadCount != 150 || len(tab.Bad) != 10 || len(tab.Records) != 150 {
		t.Fatalf("%d bad, %d listed, %d good", tab.BadCount, len(tab.Bad), len(tab.Records))
	}
	for i, e := range tab.Bad {
		if e.Line != 2*i+2 {
			t.Errorf("listed bad row %d is line %d, want %d", i, e.Line, 2*i+2)
		}
	}
}

// TestFormatOf ensures the format follows the extension, and an unknown one asks for the format.
func TestFormatOf(t *testing.T) {
	for path, want := range map[string]FileFormat{"a.jsonl": FormatJSONL, "a.NDJSON": FormatJSONL, "a.json": FormatJSON,
		"a.csv": FormatCSV, "a.tsv": FormatTSV, "dir/a.parquet": FormatParquet} {
		if got, err := FormatOf(path); got != want || err != nil {
			t.Errorf("FormatOf(%q) = %q, %v", path, got, err)
		}
	}
	if _, err := FormatOf("a.txt"); err == nil || !strings.Contains(err.Error(), "a.txt: cannot tell the file format") {
		t.Errorf("FormatOf(a.txt): %v", err)
	}
}

// TestReadFile_Missing ensures a missing file fails with its path.
func TestReadFile_Missing(t *testing.T) {
	_, err := ReadFile("testdata/none.jsonl", "", 0)
	if err == nil || !strings.Contains(err.Error(), "testdata/none.jsonl") || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v", err)
	}
}

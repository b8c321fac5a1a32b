package data

import (
	"encoding/json"
	"reflect"
	"testing"
)

// fieldsOf decodes a JSON object as the JSON readers do.
func fieldsOf(t testing.TB, js string) map[string]any {
	t.Helper()
	tab, err := ReadBytes([]byte(js), "f", FormatJSONL, 0)
	if err != nil || len(tab.Records) != 1 {
		t.Fatalf("%s: %v %v", js, err, tab.Bad)
	}
	return tab.Records[0].Fields
}

// TestToExample ensures every shape reads into the example it means: alpaca's input joins the
// instruction, sharegpt's roles are renamed, a system column leads the conversation, content
// parts are joined, CSV cells holding JSON lists are decoded.
func TestToExample(t *testing.T) {
	cases := []struct {
		name  string
		shape Shape
		cols  Columns
		js    string
		want  example
	}{
		{"alpaca", ShapeAlpaca, nil, `{"instruction": "Add.", "input": "2, 3", "output": 5}`,
			example{Messages: []Message{{Role: "user", Content: "Add.\n\n2, 3"}, {Role: "assistant", Content: "5"}}}},
		{"alpaca with system, no input", ShapeAlpaca, nil, `{"instruction": "Hi.", "input": null, "output": "Hello", "system": "Be kind."}`,
			example{Messages: []Message{{Role: "system", Content: "Be kind."}, {Role: "user", Content: "Hi."}, {Role: "assistant", Content: "Hello"}}}},
		{"alpaca mapped", ShapeAlpaca, Columns{"instruction": "q", "output": "a"}, `{"q": "Hi.", "a": "Hello"}`,
			example{Messages: []Message{{Role: "user", Content: "Hi."}, {Role: "assistant", Content: "Hello"}}}},
		{"sharegpt", ShapeShareGPT, nil, `{"conversations": [{"from": "system", "value": "S"}, {"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}]}`,
			example{Messages: []Message{{Role: "system", Content: "S"}, {Role: "user", Content: "Q"}, {Role: "assistant", Content: "A"}}}},
		{"sharegpt with a system column", ShapeShareGPT, nil, `{"system": "S", "conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}]}`,
			example{Messages: []Message{{Role: "system", Content: "S"}, {Role: "user", Content: "Q"}, {Role: "assistant", Content: "A"}}}},
		{"messages with parts", ShapeMessages, nil, `{"messages": [{"role": "user", "content": [{"type": "text", "text": "Q"}, {"type": "text", "text": "!"}]}, {"role": "assistant", "content": "A"}]}`,
			example{Messages: []Message{{Role: "user", Content: "Q!"}, {Role: "assistant", Content: "A"}}}},
		{"messages mapped inside turns", ShapeMessages, Columns{"messages": "chat", "role": "speaker", "content": "said"}, `{"chat": [{"speaker": "user", "said": "Q"}, {"speaker": "assistant", "said": "A"}]}`,
			example{Messages: []Message{{Role: "user", Content: "Q"}, {Role: "assistant", Content: "A"}}}},
		{"messages held as text (CSV)", ShapeMessages, nil, `{"messages": "[{\"role\": \"user\", \"content\": \"Q\"}, {\"role\": \"assistant\", \"content\": \"A\"}]"}`,
			example{Messages: []Message{{Role: "user", Content: "Q"}, {Role: "assistant", Content: "A"}}}},
		{"completion", ShapeCompletion, nil, `{"prompt": "", "completion": "B"}`, example{Prompt: "", Completion: "B"}},
		{"text", ShapeText, nil, `{"text": "T"}`, example{Text: "T"}},
		{"tokenized", ShapeTokenized, nil, `{"input_ids": [1, 2, 3], "labels": [-100, 2, 3]}`, example{IDs: []int32{1, 2, 3}, Labels: []int32{-100, 2, 3}}},
		{"tokenized without labels, from CSV", ShapeTokenized, nil, `{"input_ids": "[1, 2]", "labels": null}`, example{IDs: []int32{1, 2}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := toExample(Record{Line: 7, Fields: fieldsOf(t, c.js)}, c.shape, c.cols)
			if err != nil {
				t.Fatal(err)
			}
			c.want.Line = 7
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

// TestToExample_Errors ensures a missing, empty or mistyped field is reported by the name the file
// gives it, with list indexes.
func TestToExample_Errors(t *testing.T) {
	cases := []struct {
		shape Shape
		cols  Columns
		js    string
		want  string
	}{
		{ShapeAlpaca, nil, `{"instruction": "I"}`, "output: missing"},
		{ShapeAlpaca, nil, `{"instruction": " ", "output": "O"}`, "instruction: empty"},
		{ShapeAlpaca, Columns{"output": "answer"}, `{"instruction": "I", "answer": ""}`, "answer: empty"},
		{ShapeAlpaca, nil, `{"instruction": ["I"], "output": "O"}`, "instruction: text was expected, found an array"},
		{ShapeShareGPT, nil, `{"conversations": []}`, "conversations: empty conversation"},
		{ShapeShareGPT, nil, `{"conversations": null}`, "conversations: missing"},
		{ShapeShareGPT, nil, `{"conversations": {"from": "human"}}`, "conversations: a list was expected, found an object"},
		{ShapeShareGPT, nil, `{"conversations": [{"from": "human", "value": "Q"}, {"from": "gpt"}]}`, "conversations[1].value: missing"},
		{ShapeShareGPT, nil, `{"conversations": [{"value": "Q"}]}`, "conversations[0].from: missing"},
		{ShapeMessages, nil, `{"messages": [{"content": "Q"}]}`, "messages[0].role: missing"},
		{ShapeShareGPT, nil, `{"conversations": [{"from": "narrator", "value": "Q"}]}`, `conversations[0].from: unknown role "narrator" (system, user, assistant, tool; human, gpt)`},
		{ShapeShareGPT, nil, `{"conversations": ["hi"]}`, `conversations[0]: an object with a role and a content was expected, found the text "hi"`},
		{ShapeMessages, nil, `{"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}`, `messages[0].content[0]: only text parts are supported, found a "image_url" object`},
		{ShapeMessages, nil, `{"messages": "[not json"}`, "messages: the text is not a JSON list: invalid character 'o' in literal null (expecting 'u')"},
		{ShapeCompletion, nil, `{"prompt": "P"}`, "completion: missing"},
		{ShapeCompletion, nil, `{"completion": "C"}`, "prompt: missing"},
		{ShapeText, nil, `{"text": ""}`, "text: empty"},
		{ShapeTokenized, nil, `{"input_ids": []}`, "input_ids: empty"},
		{ShapeTokenized, nil, `{"input_ids": [1, 2.5]}`, "input_ids[1]: a 32-bit integer was expected, found the number 2.5"},
		{ShapeTokenized, nil, `{"input_ids": [1, 4294967296]}`, "input_ids[1]: a 32-bit integer was expected, found the number 4294967296"},
		{ShapeTokenized, nil, `{"input_ids": [1, 2], "labels": [1]}`, "labels: 1 labels for 2 input_ids"},
	}
	for _, c := range cases {
		_, err := toExample(Record{Line: 3, Fields: fieldsOf(t, c.js)}, c.shape, c.cols)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s %s:\n got %v\nwant %s", c.shape, c.js, err, c.want)
		}
	}
}

// TestIntegerKinds ensures token ids are read from every integer kind Parquet and JSON give, and
// floats only when whole.
func TestIntegerKinds(t *testing.T) {
	for _, v := range []any{json.Number("7"), int(7), int8(7), int16(7), int32(7), int64(7), uint8(7), uint32(7), uint64(7), float64(7), float32(7)} {
		if n, ok := integer(v); !ok || n != 7 {
			t.Errorf("integer(%T) = %d, %v", v, n, ok)
		}
	}
	for _, v := range []any{json.Number("7.5"), 7.5, "7", true, nil, uint64(1 << 63)} {
		if _, ok := integer(v); ok {
			t.Errorf("integer(%T %v) accepted", v, v)
		}
	}
}

package data

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/qlora-studio/qlora-studio/trainer/tokenizer"
)

// Message is one turn of a conversation (Role: system, user, assistant, tool), as chat templates
// take it.
type Message = tokenizer.Message

// example is one row read in its shape, before tokenization.
type example struct {
	Line               int
	Messages           []Message // alpaca, sharegpt, messages
	Prompt, Completion string    // completion
	Text               string    // text
	IDs, Labels        []int32   // tokenized; Labels nil when the row has none
}

// toExample reads a row in the given shape. A missing, empty or mistyped field is an error naming
// it as the file names it.
func toExample(r Record, shape Shape, cols Columns) (example, *fieldError) {
	f := row{fields: r.Fields, cols: cols}
	ex := example{Line: r.Line}
	var err *fieldError
	switch shape {
	case ShapeAlpaca:
		ex.Messages, err = f.alpaca()
	case ShapeShareGPT:
		ex.Messages, err = f.conversation("conversations")
	case ShapeMessages:
		ex.Messages, err = f.conversation("messages")
	case ShapeCompletion:
		ex.Prompt, ex.Completion, err = f.promptCompletion()
	case ShapeText:
		ex.Text, err = f.text("text", required)
	case ShapeTokenized:
		ex.IDs, ex.Labels, err = f.tokenized()
	default:
		panic(fmt.Sprintf("data: toExample with shape %q", shape))
	}
	return ex, err
}

// row reads our fields from a record through the column mapping.
type row struct {
	fields map[string]any
	cols   Columns
}

type need int

const (
	optional need = iota // absent, null or "" is fine and reads as ""
	present              // must be there and not null; "" is fine
	required             // must be there, not null, and not empty
)

// text reads a text field of ours.
func (r row) text(field string, n need) (string, *fieldError) {
	name := r.cols.name(field)
	return textValue(r.fields[name], name, n)
}

func textValue(v any, name string, n need) (string, *fieldError) {
	var s string
	switch v := v.(type) {
	case nil:
		if n == optional {
			return "", nil
		}
		return "", fieldErrorf(name, "missing")
	case string:
		s = v
	case json.Number:
		s = v.String()
	case bool, int, int32, int64, float32, float64:
		s = fmt.Sprint(v)
	default:
		return "", fieldErrorf(name, "text was expected, found %s", kindOf(v))
	}
	if !utf8.ValidString(s) {
		return "", fieldErrorf(name, "not UTF-8")
	}
	if n == required && strings.TrimSpace(s) == "" {
		return "", fieldErrorf(name, "empty")
	}
	return s, nil
}

func (r row) alpaca() ([]Message, *fieldError) {
	instruction, err := r.text("instruction", required)
	if err != nil {
		return nil, err
	}
	input, err := r.text("input", optional)
	if err != nil {
		return nil, err
	}
	output, err := r.text("output", required)
	if err != nil {
		return nil, err
	}
	system, err := r.text("system", optional)
	if err != nil {
		return nil, err
	}
	user := instruction
	if strings.TrimSpace(input) != "" {
		user += "\n\n" + input
	}
	msgs := []Message{{Role: "user", Content: user}, {Role: "assistant", Content: output}}
	if system != "" {
		msgs = append([]Message{{Role: "system", Content: system}}, msgs...)
	}
	return msgs, nil
}

func (r row) promptCompletion() (prompt, completion string, err *fieldError) {
	if prompt, err = r.text("prompt", present); err != nil {
		return "", "", err
	}
	completion, err = r.text("completion", required)
	return prompt, completion, err
}

// conversation reads a list of turns ({from, value} or {role, content}), adding the row's system
// column, when it has one, as a first system turn.
func (r row) conversation(field string) ([]Message, *fieldError) {
	name := r.cols.name(field)
	turns, err := listValue(r.fields[name], name)
	if err != nil {
		return nil, err
	}
	if len(turns) == 0 {
		return nil, fieldErrorf(name, "empty conversation")
	}
	msgs := make([]Message, 0, len(turns)+1)
	for i, t := range turns {
		m, err := r.turn(t, fmt.Sprintf("%s[%d]", name, i))
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, m)
	}
	system, err := r.text("system", optional)
	if err != nil {
		return nil, err
	}
	if system != "" && msgs[0].Role != "system" {
		msgs = append([]Message{{Role: "system", Content: system}}, msgs...)
	}
	return msgs, nil
}

// roleNames maps the role names datasets use to the chat templates' names.
var roleNames = map[string]string{
	"system": "system", "user": "user", "assistant": "assistant", "tool": "tool", "ipython": "ipython",
	"human": "user", "gpt": "assistant", "model": "assistant", "bot": "assistant", "chatgpt": "assistant",
}

func (r row) turn(v any, path string) (Message, *fieldError) {
	obj, ok := v.(map[string]any)
	if !ok {
		return Message{}, fieldErrorf(path, "an object with a role and a content was expected, found %s", kindOf(v))
	}
	roleKey, contentKey := r.turnKeys(obj)
	if _, ok := obj[roleKey]; !ok {
		return Message{}, fieldErrorf(path+"."+roleKey, "missing")
	}
	role, err := textValue(obj[roleKey], path+"."+roleKey, required)
	if err != nil {
		return Message{}, err
	}
	canonical, ok := roleNames[strings.ToLower(strings.TrimSpace(role))]
	if !ok {
		return Message{}, fieldErrorf(path+"."+roleKey, "unknown role %q (system, user, assistant, tool; human, gpt)", role)
	}
	if _, ok := obj[contentKey]; !ok {
		return Message{}, fieldErrorf(path+"."+contentKey, "missing")
	}
	content, err := contentValue(obj[contentKey], path+"."+contentKey)
	return Message{Role: canonical, Content: content}, err
}

// turnKeys are the keys of a turn's role and content: the mapped names (ours when unmapped), or
// sharegpt's from and value when the turn is spelled so. A missing key is named in the turn's own
// spelling.
func (r row) turnKeys(obj map[string]any) (roleKey, contentKey string) {
	roleKey, contentKey = r.cols.name("role"), r.cols.name("content")
	_, hasRole := obj[roleKey]
	_, hasContent := obj[contentKey]
	_, hasFrom := obj["from"]
	_, hasValue := obj["value"]
	if !hasRole && (hasFrom || !hasContent && hasValue) {
		roleKey = "from"
	}
	if !hasContent && (hasValue || !hasRole && hasFrom) {
		contentKey = "value"
	}
	return roleKey, contentKey
}

// contentValue reads a turn's content: text, or a list of parts of which only text ones are
// accepted ([{"type": "text", "text": "..."}], as OpenAI's format writes them).
func contentValue(v any, path string) (string, *fieldError) {
	parts, ok := v.([]any)
	if !ok {
		return textValue(v, path, present)
	}
	var b strings.Builder
	for i, p := range parts {
		obj, _ := p.(map[string]any)
		kind, _ := obj["type"].(string)
		if kind != "text" {
			return "", fieldErrorf(fmt.Sprintf("%s[%d]", path, i), "only text parts are supported, found %s", kindOf(p))
		}
		s, err := textValue(obj["text"], fmt.Sprintf("%s[%d].text", path, i), present)
		if err != nil {
			return "", err
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

func (r row) tokenized() (ids, labels []int32, err *fieldError) {
	name := r.cols.name("input_ids")
	if ids, err = intsValue(r.fields[name], name); err != nil {
		return nil, nil, err
	}
	if len(ids) == 0 {
		return nil, nil, fieldErrorf(name, "empty")
	}
	labelName := r.cols.name("labels")
	v, ok := r.fields[labelName]
	if !ok || v == nil {
		return ids, nil, nil
	}
	if labels, err = intsValue(v, labelName); err != nil {
		return nil, nil, err
	}
	if len(labels) != len(ids) {
		return nil, nil, fieldErrorf(labelName, "%d labels for %d input_ids", len(labels), len(ids))
	}
	return ids, labels, nil
}

// listValue reads a list; a string holding a JSON list (as CSV cells carry them) is decoded.
func listValue(v any, name string) ([]any, *fieldError) {
	if s, ok := v.(string); ok && strings.HasPrefix(strings.TrimSpace(s), "[") {
		var decoded []any
		if err := json.Unmarshal([]byte(s), &decoded); err != nil {
			return nil, fieldErrorf(name, "the text is not a JSON list: %v", err)
		}
		v = decoded
	}
	switch v := v.(type) {
	case nil:
		return nil, fieldErrorf(name, "missing")
	case []any:
		return v, nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Slice {
		list := make([]any, rv.Len())
		for i := range list {
			list[i] = rv.Index(i).Interface()
		}
		return list, nil
	}
	return nil, fieldErrorf(name, "a list was expected, found %s", kindOf(v))
}

// intsValue reads a list of 32-bit integers.
func intsValue(v any, name string) ([]int32, *fieldError) {
	list, err := listValue(v, name)
	if err != nil {
		return nil, err
	}
	out := make([]int32, len(list))
	for i, x := range list {
		n, ok := integer(x)
		if !ok || n < math.MinInt32 || n > math.MaxInt32 {
			return nil, fieldErrorf(fmt.Sprintf("%s[%d]", name, i), "a 32-bit integer was expected, found %s", kindOf(x))
		}
		out[i] = int32(n)
	}
	return out, nil
}

func integer(v any) (int64, bool) {
	if n, ok := v.(json.Number); ok {
		i, err := n.Int64()
		return i, err == nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return int64(rv.Uint()), rv.Uint() <= math.MaxInt64
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		return int64(f), f == math.Trunc(f) && math.Abs(f) < 1<<53
	}
	return 0, false
}

// kindOf names a value's kind for an error message, with the value when it is short.
func kindOf(v any) string {
	switch v := v.(type) {
	case string:
		if len(v) <= 20 {
			return fmt.Sprintf("the text %q", v)
		}
		return "text"
	case json.Number:
		return "the number " + v.String()
	case map[string]any:
		if kind, ok := v["type"].(string); ok {
			return fmt.Sprintf("a %q object", kind)
		}
		return "an object"
	}
	return jsonKind(v)
}

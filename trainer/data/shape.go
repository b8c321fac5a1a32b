package data

import (
	"fmt"
	"sort"
	"strings"
)

// Shape is how the rows of a dataset are laid out.
type Shape string

const (
	ShapeAlpaca     Shape = "alpaca"     // instruction, optional input, output; optional system
	ShapeShareGPT   Shape = "sharegpt"   // conversations: [{from, value}, ...]
	ShapeMessages   Shape = "messages"   // messages: [{role, content}, ...]
	ShapeCompletion Shape = "completion" // prompt, completion: plain text, no chat template
	ShapeText       Shape = "text"       // text: trained on as a whole
	ShapeTokenized  Shape = "tokenized"  // input_ids, optional labels: used as they are
)

// Shapes lists every shape, in the order detection prefers them.
var Shapes = []Shape{ShapeTokenized, ShapeShareGPT, ShapeMessages, ShapeAlpaca, ShapeCompletion, ShapeText}

// shapeAliases are other names users give the shapes (axolotl's and TRL's among them).
var shapeAliases = map[string]Shape{
	"chat_template":     ShapeMessages,
	"chat":              ShapeMessages,
	"conversation":      ShapeShareGPT,
	"prompt_completion": ShapeCompletion,
	"input_output":      ShapeCompletion,
	"pretokenized":      ShapeTokenized,
	"pre-tokenized":     ShapeTokenized,
	"input_ids":         ShapeTokenized,
	"pretrain":          ShapeText,
	"completion_only":   ShapeCompletion,
}

// ParseShape reads a shape's name or one of its aliases; "" and "auto" give "" (detect).
func ParseShape(name string) (Shape, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if n == "" || n == "auto" {
		return "", nil
	}
	for _, s := range Shapes {
		if n == string(s) {
			return s, nil
		}
	}
	if s, ok := shapeAliases[n]; ok {
		return s, nil
	}
	names := make([]string, len(Shapes))
	for i, s := range Shapes {
		names[i] = string(s)
	}
	return "", fmt.Errorf("unknown dataset format %q: one of auto, %s", name, strings.Join(names, ", "))
}

// chat reports whether the shape is a conversation, rendered through a chat template.
func (s Shape) chat() bool { return s == ShapeAlpaca || s == ShapeShareGPT || s == ShapeMessages }

// Columns maps our field names to the file's column names, for files that name them otherwise:
// {"instruction": "question", "output": "answer"}. Our names: instruction, input, output, system,
// conversations, messages, prompt, completion, text, input_ids, labels, and inside a turn role,
// content (from, value also accepted).
type Columns map[string]string

// ParseColumns reads "ours=theirs" pairs.
func ParseColumns(pairs []string) (Columns, error) {
	c := Columns{}
	for _, p := range pairs {
		ours, theirs, ok := strings.Cut(p, "=")
		ours, theirs = strings.TrimSpace(ours), strings.TrimSpace(theirs)
		if !ok || ours == "" || theirs == "" {
			return nil, fmt.Errorf("column mapping %q: want field=column, as instruction=question", p)
		}
		if !knownField[ours] {
			return nil, fmt.Errorf("column mapping %q: %q is not a field we read (%s)", p, ours, strings.Join(sortedKeys(knownField), ", "))
		}
		c[ours] = theirs
	}
	return c, nil
}

var knownField = map[string]bool{
	"instruction": true, "input": true, "output": true, "system": true, "conversations": true,
	"messages": true, "prompt": true, "completion": true, "text": true, "input_ids": true,
	"labels": true, "role": true, "content": true,
}

// name is the file's name for our field.
func (c Columns) name(field string) string {
	if n, ok := c[field]; ok {
		return n
	}
	return field
}

// detectRows is how many rows shape detection looks at.
const detectRows = 64

// shapeKeys are the fields whose presence marks each shape.
var shapeKeys = map[Shape][]string{
	ShapeTokenized:  {"input_ids"},
	ShapeShareGPT:   {"conversations"},
	ShapeMessages:   {"messages"},
	ShapeAlpaca:     {"instruction", "output"},
	ShapeCompletion: {"prompt", "completion"},
	ShapeText:       {"text"},
}

// DetectShape tells the shape from the first rows: each row votes for the first shape (in Shapes
// order) whose fields it has; the most votes win, ties going to the earlier shape.
func DetectShape(records []Record, cols Columns) (Shape, error) {
	votes := map[Shape]int{}
	for i, r := range records {
		if i == detectRows {
			break
		}
		if s, ok := shapeOf(r.Fields, cols); ok {
			votes[s]++
		}
	}
	best := Shape("")
	for _, s := range Shapes {
		if votes[s] > votes[best] {
			best = s
		}
	}
	if best == "" {
		return "", fmt.Errorf("%w: the columns are %s; name the format and map the columns (field=column)",
			ErrUnknownShape, columnList(records))
	}
	return best, nil
}

func shapeOf(fields map[string]any, cols Columns) (Shape, bool) {
	for _, s := range Shapes {
		all := true
		for _, k := range shapeKeys[s] {
			if _, ok := fields[cols.name(k)]; !ok {
				all = false
				break
			}
		}
		if all {
			return s, true
		}
	}
	return "", false
}

func columnList(records []Record) string {
	t := Table{Records: records}
	names := t.Columns()
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

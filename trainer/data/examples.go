package data

import "fmt"

// Example is one row of a dataset read in its shape, before tokenization: a conversation (alpaca,
// sharegpt and messages rows all become one), a prompt and completion, a text, or token ids with
// labels. Tools that rewrite a dataset in another trainer's layout (the axolotl handoff) read rows
// this way, so that they carry what training here would see.
type Example struct {
	Line               int
	Messages           []Message // alpaca, sharegpt, messages
	Prompt, Completion string    // completion
	Text               string    // text
	IDs, Labels        []int32   // tokenized; Labels nil when the row has none (train on every token)
}

// Examples reads every row of the table in the given shape (detected from the columns when ""),
// and returns the shape and the good rows' examples in file order. When rows are bad, the error is
// a *BadRecordsError listing them, returned with the good rows' examples; the caller decides
// whether to go on without the bad ones.
func Examples(t *Table, shape Shape, cols Columns) (Shape, []Example, error) {
	if shape == "" {
		s, err := DetectShape(t.Records, cols)
		if err != nil {
			return "", nil, fmt.Errorf("%s: %w", t.File, err)
		}
		shape = s
	}
	results := make([]encodeResult, len(t.Records))
	out := make([]Example, 0, len(t.Records))
	for i, r := range t.Records {
		ex, ferr := toExample(r, shape, cols)
		if ferr != nil {
			results[i] = encodeResult{line: r.Line, err: &RecordError{Line: r.Line, Field: ferr.field, Reason: ferr.reason}}
			continue
		}
		out = append(out, Example(ex))
	}
	bad := mergeBad(t, results, DefaultMaxListed)
	if bad.count > 0 {
		return shape, out, &BadRecordsError{File: t.File, Count: bad.count, Listed: bad.listed}
	}
	return shape, out, nil
}

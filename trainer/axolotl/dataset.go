package axolotl

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/qlora-studio/qlora-studio/internal/safefile"
	"github.com/qlora-studio/qlora-studio/trainer/data"
)

// Each of our shapes is written in the layout of the axolotl type that trains on what our engine
// trains on (docs/dataset-formats/index.qmd):
//
//   - alpaca, sharegpt and messages rows are conversations here, rendered through the chat
//     template, every assistant turn trained on. They are written as {"messages": [{role,
//     content}]} for type chat_template, with roles_to_train [assistant] and train_on_eos turn
//     (left empty, axolotl trains only on the last message; docs/config.qmd). Axolotl's own
//     alpaca type would render the Alpaca prompt instead of the model's template.
//   - completion rows ({"prompt", "completion"}, the prompt masked) use the custom instruct type:
//     field_instruction prompt, field_output completion, format "{instruction}" (inst_tune.qmd,
//     user_defined.py), which tokenizes the prompt with BOS, masks it, and ends with EOS.
//   - text rows ({"text"}, trained on whole) are type completion (completion.py reads "text").
//   - tokenized rows are written with input_ids, attention_mask and labels under an empty type
//     (tokenized.qmd); labels default to the ids, as here.

// Written is a dataset file written for axolotl.
type Written struct {
	Entry map[string]any // its entry in axolotl's datasets list
	Shape data.Shape     // of its rows, as read here
	Rows  int            // rows written
	Notes Notes          // rows left out, and what axolotl does otherwise
}

// WriteDataset reads a dataset file in our shape (detected when shape is ""), writes its rows to
// out as JSON Lines in the layout of the matching axolotl type, and returns the entry for
// axolotl's datasets list (path is what the entry names, relative to where axolotl runs). A file
// with bad rows fails unless skipBad, which leaves them out and says so in a Note.
func WriteDataset(src string, shape data.Shape, out, path string, skipBad bool) (Written, error) {
	t, err := data.ReadFile(src, "", data.DefaultMaxListed)
	if err != nil {
		return Written{}, err
	}
	w := Written{}
	var examples []data.Example
	w.Shape, examples, err = data.Examples(t, shape, nil)
	var bad *data.BadRecordsError
	switch {
	case errors.As(err, &bad) && skipBad:
		w.Notes.add(Ours, "skip_bad_rows", true, "%d bad rows of %s left out of the data written", bad.Count, src)
	case err != nil:
		return Written{}, err
	}
	if len(examples) == 0 {
		return Written{}, fmt.Errorf("%s: %w", src, data.ErrNoSamples)
	}
	if err := writeRows(out, w.Shape, examples); err != nil {
		return Written{}, err
	}
	if w.Shape == data.ShapeText {
		w.Notes.add(Ours, "dataset_format", "text", "texts longer than sequence_len are trained on in sequence_len chunks by axolotl (completion.py), on their first max_seq_length tokens here")
	}
	w.Entry = entryFor(w.Shape)
	w.Entry["path"], w.Entry["ds_type"] = path, "json"
	w.Rows = len(examples)
	return w, nil
}

// writeRows writes the examples as JSON Lines, one row each in the layout of its axolotl type.
func writeRows(path string, shape data.Shape, examples []data.Example) error {
	return safefile.Write(path, func(w *bufio.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for _, ex := range examples {
			if err := enc.Encode(rowFor(shape, ex)); err != nil {
				return err
			}
		}
		return nil
	})
}

// rowFor is one row in the layout its axolotl type reads.
func rowFor(shape data.Shape, ex data.Example) map[string]any {
	switch shape {
	case data.ShapeCompletion:
		return map[string]any{"prompt": ex.Prompt, "completion": ex.Completion}
	case data.ShapeText:
		return map[string]any{"text": ex.Text}
	case data.ShapeTokenized:
		labels := ex.Labels
		if labels == nil {
			labels = ex.IDs
		}
		mask := make([]int, len(ex.IDs))
		for i := range mask {
			mask[i] = 1
		}
		return map[string]any{"input_ids": ex.IDs, "attention_mask": mask, "labels": labels}
	}
	return map[string]any{"messages": ex.Messages}
}

// entryFor is the datasets entry, path aside, for rows of a shape.
func entryFor(shape data.Shape) map[string]any {
	switch shape {
	case data.ShapeCompletion:
		return map[string]any{"type": map[string]any{"field_instruction": "prompt", "field_output": "completion",
			"format": "{instruction}", "no_input_format": "{instruction}"}}
	case data.ShapeText:
		return map[string]any{"type": "completion"}
	case data.ShapeTokenized:
		return map[string]any{"type": nil}
	}
	return map[string]any{
		"type":                      "chat_template",
		"field_messages":            "messages",
		"message_property_mappings": map[string]any{"role": "role", "content": "content"},
		"roles_to_train":            []string{"assistant"},
		"train_on_eos":              "turn",
	}
}

// readDatasets reads the first entry of datasets (and of test_datasets) back: its path and the
// shape its type reads. Anything else is noted.
func (r *Read) readDatasets(in map[string]any) {
	list, _ := in["datasets"].([]any)
	for i, d := range list {
		entry, _ := d.(map[string]any)
		if i > 0 || entry == nil {
			r.Notes.add(Axolotl, fmt.Sprintf("datasets[%d]", i), d, "a run here trains on one file; only datasets[0] is read")
			continue
		}
		if p, ok := asString(entry["path"]); ok {
			r.Layer["dataset"] = p
		}
		r.readType(entry)
	}
	if tests, _ := in["test_datasets"].([]any); len(tests) > 0 {
		if entry, _ := tests[0].(map[string]any); entry != nil {
			if p, ok := asString(entry["path"]); ok {
				r.Layer["val_dataset"] = p
			}
		}
		if len(tests) > 1 {
			r.Notes.add(Axolotl, "test_datasets", tests[1:], "a run here validates on one file; only test_datasets[0] is read")
		}
	}
}

// readType is the shape of rows that a datasets entry's type reads.
func (r *Read) readType(entry map[string]any) {
	typ, hasType := entry["type"]
	switch t := typ.(type) {
	case nil:
		if hasType {
			r.Layer["dataset_format"] = string(data.ShapeTokenized)
		}
	case string:
		r.readNamedType(t, entry)
	case map[string]any:
		if t["field_instruction"] == "prompt" && t["field_output"] == "completion" {
			r.Layer["dataset_format"] = string(data.ShapeCompletion)
			return
		}
		r.Notes.add(Axolotl, "datasets[0].type", t, "a custom prompt format has no equivalent here; the shape is detected from the rows")
	}
}

func (r *Read) readNamedType(t string, entry map[string]any) {
	switch t {
	case "chat_template":
		switch field, _ := asString(entry["field_messages"]); field {
		case "", "messages":
			r.Layer["dataset_format"] = string(data.ShapeMessages)
		case "conversations":
			r.Layer["dataset_format"] = string(data.ShapeShareGPT)
		default:
			r.Notes.add(Axolotl, "datasets[0].field_messages", field, "the conversation column must be messages or conversations here; the shape is detected from the rows")
		}
	case "alpaca":
		r.Layer["dataset_format"] = string(data.ShapeAlpaca)
		r.Notes.add(Axolotl, "datasets[0].type", t, "axolotl renders alpaca rows with its Alpaca prompt; here they go through the chat template (chat_template: alpaca is the nearest)")
	case "completion":
		r.Layer["dataset_format"] = string(data.ShapeText)
		if f, ok := entry["field"]; ok && f != nil && f != "text" {
			r.Notes.add(Axolotl, "datasets[0].field", f, "text rows are read from the text column here")
		}
	default:
		r.Notes.add(Axolotl, "datasets[0].type", t, "no such dataset type here; the shape is detected from the rows")
	}
}

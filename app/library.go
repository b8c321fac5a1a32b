package app

import (
	"errors"
	"fmt"

	"github.com/qlora-studio/qlora-studio/storage"
	"github.com/qlora-studio/qlora-studio/trainer/data"
	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/tokenizer"
	"github.com/qlora-studio/qlora-studio/ui"
)

// Library is the library as the screens and the supervisor use it: *storage.Library, with what
// the datasets screen needs besides. A file with bad rows is refused with a *ui.BadRowsError; a
// shape set by hand is kept (in a library setting, until the library records it itself) and
// shows in Dataset and Datasets; a dataset is inspected with a library model's tokenizer.
type Library struct {
	*storage.Library
}

// shapeSetting is the library setting that keeps a dataset's shape set by hand, until the
// library records it itself.
func shapeSetting(name string) string { return "dataset-shape/" + name }

// Datasets lists the datasets with the shapes set by hand.
func (d Library) Datasets() ([]storage.Dataset, error) {
	list, err := d.Library.Datasets()
	if err != nil {
		return nil, err
	}
	for i := range list {
		if shape, ok, _ := d.Setting(shapeSetting(list[i].Name)); ok {
			list[i].Shape, list[i].ShapeGiven = shape, true
		}
	}
	return list, nil
}

// Dataset is the dataset with this name, with its shape set by hand.
func (d Library) Dataset(name string) (storage.Dataset, error) {
	ds, err := d.Library.Dataset(name)
	if err == nil {
		if shape, ok, _ := d.Setting(shapeSetting(name)); ok {
			ds.Shape, ds.ShapeGiven = shape, true
		}
	}
	return ds, err
}

// AddDataset imports a dataset file; a file with bad rows is refused with a *ui.BadRowsError.
func (d Library) AddDataset(file string, opt storage.DatasetOptions) (storage.Dataset, error) {
	ds, err := d.Library.AddDataset(file, opt)
	var bad *data.BadRecordsError
	if errors.As(err, &bad) {
		return ds, &ui.BadRowsError{File: bad.File, Count: bad.Count, Rows: recordErrors(bad.Listed)}
	}
	return ds, err
}

// RemoveDataset removes a dataset and the shape set for it.
func (d Library) RemoveDataset(name string, force bool) error {
	if err := d.Library.RemoveDataset(name, force); err != nil {
		return err
	}
	return d.DeleteSetting(shapeSetting(name))
}

// SetDatasetShape keeps a shape set by hand for the dataset; "" or "auto" returns to detection.
// Rows the shape does not fit show as bad rows in the dataset's report.
func (d Library) SetDatasetShape(name, shape string) error {
	if _, err := d.Library.Dataset(name); err != nil {
		return err
	}
	s, err := data.ParseShape(shape)
	if err != nil {
		return err
	}
	if s == "" {
		return d.DeleteSetting(shapeSetting(name))
	}
	return d.SetSetting(shapeSetting(name), string(s))
}

// Shapes lists every dataset shape, in the order detection prefers them.
func (d Library) Shapes() []string {
	out := make([]string, len(data.Shapes))
	for i, s := range data.Shapes {
		out[i] = string(s)
	}
	return out
}

// maxBadListed is how many bad rows the datasets screen lists.
const maxBadListed = 50

// InspectDataset reads a dataset in a shape and, with a model, tokenizes it with the model's
// tokenizer and chat template for the preview, the length histogram and the bad rows.
func (d Library) InspectDataset(req ui.Inspection) (*ui.DatasetReport, error) {
	table, err := data.ReadFile(req.File, data.FileFormat(req.FileType), maxBadListed)
	if err != nil {
		return nil, err
	}
	detected, derr := data.DetectShape(table.Records, nil)
	shape, err := data.ParseShape(req.Shape)
	if err != nil {
		return nil, err
	}
	if shape == "" {
		if derr != nil {
			return nil, fmt.Errorf("%s: %w", req.File, derr)
		}
		shape = detected
	}
	r := &ui.DatasetReport{Shape: string(shape), DetectedShape: string(detected), Columns: table.Columns(),
		Rows: len(table.Records) + table.BadCount, BadCount: table.BadCount, BadRows: recordErrors(table.Bad),
		TrainedOn: trainedOn(shape, false)}
	if req.Model == "" {
		return r, nil
	}
	m, err := d.Model(req.Model)
	if err != nil {
		return nil, err
	}
	cfg, err := model.LoadConfig(m.Path)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.Load(m.Path)
	if err != nil {
		return nil, err
	}
	template, templateName, err := data.ChatTemplateFor(tok, "")
	if err != nil {
		return nil, err
	}
	maxLength := req.MaxLength
	if maxLength <= 0 {
		maxLength = min(2048, cfg.MaxPositionEmbeddings)
	}
	ds, err := data.FromTable(table, tok, data.Options{Shape: shape, Template: template, MaxLength: maxLength,
		SkipBad: true, MaxListed: maxBadListed})
	if err != nil {
		return nil, err
	}
	rep := data.NewReport(ds, tok, templateName, false, req.Examples)
	st := rep.Stats
	r.Template, r.Tokenized = rep.Template, true
	r.BadCount, r.BadRows = rep.BadCount, recordErrors(rep.BadRows)
	r.Samples, r.NoTargets, r.MaxLength, r.Truncated, r.TruncatedShare = st.Samples, st.NoTargets, st.MaxLength, st.Truncated, st.TruncatedShare
	r.Lengths = ui.LengthSummary{Min: st.Lengths.Min, Median: st.Lengths.Median, Mean: st.Lengths.Mean, P95: st.Lengths.P95, Max: st.Lengths.Max}
	for _, b := range st.Histogram {
		r.Histogram = append(r.Histogram, ui.HistogramBin{Label: b.Label(), Count: b.Count, Beyond: b.To == 0})
	}
	for _, ex := range rep.Examples {
		e := ui.Example{Line: ex.Line, Tokens: ex.Tokens, Trained: ex.Trained}
		for _, sp := range ex.Spans {
			e.Spans = append(e.Spans, ui.Span{Text: sp.Text, Trained: sp.Trained})
		}
		r.Examples = append(r.Examples, e)
	}
	return r, nil
}

// trainedOn says in words which tokens a shape trains on, as `qlora data inspect` does.
func trainedOn(shape data.Shape, trainOnInputs bool) string {
	switch {
	case shape == data.ShapeText:
		return "every token"
	case shape == data.ShapeTokenized:
		return "the file's labels (every token where it has none)"
	case trainOnInputs:
		return "every token (train_on_inputs)"
	case shape == data.ShapeCompletion:
		return "completions only"
	}
	return "assistant turns only"
}

func recordErrors(errs []*data.RecordError) []string {
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = e.Error()
	}
	return out
}

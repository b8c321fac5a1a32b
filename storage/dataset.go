package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/qlora-studio/qlora-studio/trainer/data"
	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/tokenizer"
)

// Dataset is an imported dataset: its copy in the library, its shape, and its statistics for the
// tokenizers it was measured with.
type Dataset struct {
	Name   string `json:"name"`
	Path   string `json:"path"`   // the copy training reads; relative to the library in the database
	Source string `json:"source"` // the file imported
	Folder string `json:"folder"` // its folder in the library, relative to it
	File   File   `json:"file"`

	Format     string       `json:"format"` // the file format: jsonl, json, csv, tsv, parquet
	Shape      string       `json:"shape"`  // alpaca, sharegpt, messages, completion, text, tokenized
	ShapeGiven bool         `json:"shape_given,omitempty"`
	Columns    []string     `json:"columns"`
	Rows       int          `json:"rows"`     // rows in the file, good and bad
	BadRows    int          `json:"bad_rows"` // rows that cannot be read (accepted with SkipBad)
	Stats      []TokenStats `json:"stats,omitempty"`
	Added      time.Time    `json:"added"`
}

// TokenStats measure a dataset with one model's tokenizer and chat template at one maximum length.
type TokenStats struct {
	Model         string `json:"model"` // a library model's name, or a model folder
	MaxLength     int    `json:"max_length"`
	Template      string `json:"template"` // the chat template used, as data.ChatTemplateFor names it
	TrainOnInputs bool   `json:"train_on_inputs"`

	Samples        int     `json:"samples"`
	BadRows        int     `json:"bad_rows"`
	NoTargets      int     `json:"no_targets"`
	Tokens         int     `json:"tokens"`
	TokensPerEpoch int     `json:"tokens_per_epoch"`
	Truncated      int     `json:"truncated"`
	TruncatedShare float64 `json:"truncated_share"`
	Lengths        Lengths `json:"lengths"` // before truncation

	PackedSequences   int       `json:"packed_sequences"`
	PackingEfficiency float64   `json:"packing_efficiency"`
	PaddedEfficiency  float64   `json:"padded_efficiency"`
	Measured          time.Time `json:"measured"`
}

// Lengths summarise sample lengths in tokens.
type Lengths struct {
	Min    int     `json:"min"`
	Mean   float64 `json:"mean"`
	Median int     `json:"median"`
	P95    int     `json:"p95"`
	Max    int     `json:"max"`
}

// DatasetOptions choose how a dataset is imported.
type DatasetOptions struct {
	Name     string // "" takes the file's name without its extension
	Shape    string // "" or "auto" detects it
	FileType string // jsonl, json, csv, tsv, parquet; "" takes it from the extension
	SkipBad  bool   // accept a file with bad rows (they are counted)
	// Measure, when set, tokenizes the dataset with a model's tokenizer and records its statistics.
	Measure  *Measure
	Progress Progress
}

// Measure says which tokenizer, template and length to measure a dataset with.
type Measure struct {
	Model         string // a library model's name, or a model folder
	MaxLength     int    // 0 is 2048, or the model's context when shorter
	Template      string // a built-in chat template or a .jinja file; "" takes the model's own
	TrainOnInputs bool
}

// defaultMaxLength is the length measured when Measure leaves it zero.
const defaultMaxLength = 2048

// maxBadListed is how many bad rows an import's error lists.
const maxBadListed = 20

// AddDataset validates the dataset file (every row read, the shape detected or checked, and with
// opt.Measure every row tokenized), copies it into the library and records it. Errors name the
// file and the line; nothing is recorded or left in the library when it fails or is killed.
func (l *Library) AddDataset(file string, opt DatasetOptions) (Dataset, error) {
	src, err := filepath.Abs(file)
	if err != nil {
		return Dataset{}, err
	}
	name := opt.Name
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(src), filepath.Ext(src))
	}
	if err := checkName("dataset", name); err != nil {
		return Dataset{}, err
	}
	if err := l.view(func(tx *bolt.Tx) error { return datasetFree(tx, name) }); err != nil {
		return Dataset{}, err
	}
	d, table, err := readDataset(src, opt.FileType, opt.Shape, opt.SkipBad)
	if err != nil {
		return Dataset{}, err
	}
	if opt.Measure != nil {
		st, err := l.measure(table, data.Shape(d.Shape), *opt.Measure, opt.SkipBad)
		if err != nil {
			return Dataset{}, err
		}
		d.Stats = []TokenStats{st}
	}
	d.Name, d.Source, d.Added = name, src, time.Now().UTC()
	var seq uint64
	err = l.update(func(tx *bolt.Tx) error {
		if err := datasetFree(tx, name); err != nil {
			return err
		}
		n, err := tx.Bucket(bucketDatasets).NextSequence()
		if err != nil {
			return err
		}
		d.Folder = filepath.Join(DatasetsDir, folderName(n, name))
		seq, err = addPending(tx, opImport, d.Folder)
		return err
	})
	if err != nil {
		return Dataset{}, err
	}
	files, err := recordFiles(filepath.Dir(src), []string{filepath.Base(src)}, filepath.Join(l.dir, d.Folder), opt.Progress)
	if err == nil {
		d.File, d.Path = files[0], filepath.Join(d.Folder, files[0].Name)
		err = l.update(func(tx *bolt.Tx) error {
			if err := datasetFree(tx, name); err != nil {
				return err
			}
			if err := putDataset(tx, d); err != nil {
				return err
			}
			return deletePending(tx, seq)
		})
	}
	if err != nil {
		l.abandon(seq, d.Folder)
		return Dataset{}, err
	}
	return l.resolveDataset(d), nil
}

// readDataset reads every row of a dataset file and settles its shape.
func readDataset(path, fileType, shapeName string, skipBad bool) (Dataset, *data.Table, error) {
	shape, err := data.ParseShape(shapeName)
	if err != nil {
		return Dataset{}, nil, err
	}
	table, err := data.ReadFile(path, data.FileFormat(fileType), maxBadListed)
	if err != nil {
		return Dataset{}, nil, err
	}
	if table.BadCount > 0 && !skipBad {
		return Dataset{}, nil, &data.BadRecordsError{File: table.File, Count: table.BadCount, Listed: table.Bad}
	}
	if len(table.Records) == 0 {
		return Dataset{}, nil, fmt.Errorf("%s: %w (%d bad)", path, data.ErrNoSamples, table.BadCount)
	}
	d := Dataset{Format: string(table.Format), Shape: string(shape), ShapeGiven: shape != "", Columns: table.Columns(),
		Rows: len(table.Records) + table.BadCount, BadRows: table.BadCount}
	if shape == "" {
		detected, err := data.DetectShape(table.Records, nil)
		if err != nil {
			return Dataset{}, nil, fmt.Errorf("%s: %w", path, err)
		}
		d.Shape = string(detected)
	}
	return d, table, nil
}

// measure tokenizes a dataset's rows with a model's tokenizer and template.
func (l *Library) measure(table *data.Table, shape data.Shape, m Measure, skipBad bool) (TokenStats, error) {
	dir := m.Model
	if mod, err := l.Model(m.Model); err == nil {
		dir = mod.Path
	} else if !errors.Is(err, ErrNotFound) {
		return TokenStats{}, err
	} else if st, serr := os.Stat(dir); serr != nil || !st.IsDir() {
		return TokenStats{}, fmt.Errorf("%w: no model named %q, and no such folder", ErrNotFound, m.Model)
	}
	cfg, err := model.LoadConfig(dir)
	if err != nil {
		return TokenStats{}, err
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return TokenStats{}, err
	}
	template, templateName, err := data.ChatTemplateFor(tok, m.Template)
	if err != nil {
		return TokenStats{}, err
	}
	maxLength := m.MaxLength
	if maxLength <= 0 {
		maxLength = min(defaultMaxLength, cfg.MaxPositionEmbeddings)
	}
	ds, err := data.FromTable(table, tok, data.Options{Shape: shape, Template: template, TrainOnInputs: m.TrainOnInputs,
		MaxLength: maxLength, SkipBad: skipBad, MaxListed: maxBadListed})
	if err != nil {
		return TokenStats{}, err
	}
	s := ds.Stats
	return TokenStats{Model: m.Model, MaxLength: maxLength, Template: templateName, TrainOnInputs: m.TrainOnInputs,
		Samples: s.Samples, BadRows: s.BadRows, NoTargets: s.NoTargets, Tokens: s.Tokens, TokensPerEpoch: s.TokensPerEpoch,
		Truncated: s.Truncated, TruncatedShare: s.TruncatedShare,
		Lengths:         Lengths{Min: s.Lengths.Min, Mean: s.Lengths.Mean, Median: s.Lengths.Median, P95: s.Lengths.P95, Max: s.Lengths.Max},
		PackedSequences: s.PackedSequences, PackingEfficiency: s.PackingEfficiency, PaddedEfficiency: s.PaddedEfficiency,
		Measured: time.Now().UTC()}, nil
}

// MeasureDataset measures an imported dataset with a model's tokenizer and records the statistics,
// replacing earlier ones for the same model, length, template and train_on_inputs.
func (l *Library) MeasureDataset(name string, m Measure) (TokenStats, error) {
	d, err := l.Dataset(name)
	if err != nil {
		return TokenStats{}, err
	}
	_, table, err := readDataset(d.Path, d.Format, d.Shape, true)
	if err != nil {
		return TokenStats{}, err
	}
	st, err := l.measure(table, data.Shape(d.Shape), m, true)
	if err != nil {
		return TokenStats{}, err
	}
	err = l.update(func(tx *bolt.Tx) error {
		rec, err := getDataset(tx, name)
		if err != nil {
			return err
		}
		kept := rec.Stats[:0]
		for _, old := range rec.Stats {
			if old.Model != st.Model || old.MaxLength != st.MaxLength || old.Template != st.Template || old.TrainOnInputs != st.TrainOnInputs {
				kept = append(kept, old)
			}
		}
		rec.Stats = append(kept, st)
		return putDataset(tx, rec)
	})
	return st, err
}

func datasetFree(tx *bolt.Tx, name string) error {
	if tx.Bucket(bucketDatasets).Get([]byte(name)) != nil {
		return fmt.Errorf("%w: a dataset named %q is already there; choose another name", ErrExists, name)
	}
	return nil
}

// Datasets lists the datasets, by name.
func (l *Library) Datasets() ([]Dataset, error) {
	var out []Dataset
	err := l.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDatasets).ForEach(func(k, v []byte) error {
			d, err := decodeDataset(v)
			if err != nil {
				return fmt.Errorf("dataset %q: %w", k, err)
			}
			out = append(out, l.resolveDataset(d))
			return nil
		})
	})
	return out, err
}

// Dataset is the dataset with this name; ErrNotFound when there is none.
func (l *Library) Dataset(name string) (Dataset, error) {
	var d Dataset
	err := l.view(func(tx *bolt.Tx) (err error) {
		d, err = getDataset(tx, name)
		return err
	})
	return l.resolveDataset(d), err
}

// RemoveDataset removes a dataset's record and its copy. A dataset that runs used is refused with
// an *InUseError listing them, unless force.
func (l *Library) RemoveDataset(name string, force bool) error {
	var seq uint64
	var dirs []string
	err := l.update(func(tx *bolt.Tx) error {
		d, err := getDataset(tx, name)
		if err != nil {
			return err
		}
		if !force {
			if users, err := runsUsing(tx, func(r Run) bool { return r.Dataset == name }); err != nil {
				return err
			} else if len(users) > 0 {
				return &InUseError{Kind: "dataset", Name: name, Runs: users}
			}
		}
		dirs = []string{d.Folder}
		if seq, err = addPending(tx, opRemove, dirs...); err != nil {
			return err
		}
		return tx.Bucket(bucketDatasets).Delete([]byte(name))
	})
	if err != nil {
		return err
	}
	return l.finishRemoval(seq, dirs)
}

func getDataset(tx *bolt.Tx, name string) (Dataset, error) {
	v := tx.Bucket(bucketDatasets).Get([]byte(name))
	if v == nil {
		return Dataset{}, fmt.Errorf("%w: no dataset named %q", ErrNotFound, name)
	}
	d, err := decodeDataset(v)
	if err != nil {
		return Dataset{}, fmt.Errorf("dataset %q: %w", name, err)
	}
	return d, nil
}

func putDataset(tx *bolt.Tx, d Dataset) error {
	v, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketDatasets).Put([]byte(d.Name), v)
}

// decodeDataset reads a dataset record, refusing one that lacks what every record has.
func decodeDataset(v []byte) (Dataset, error) {
	var d Dataset
	if err := json.Unmarshal(v, &d); err != nil {
		return Dataset{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if d.Name == "" || d.Folder == "" || !filepath.IsLocal(d.Folder) || !filepath.IsLocal(d.Path) {
		return Dataset{}, fmt.Errorf("%w: dataset record without name, or with paths outside the library", ErrCorrupt)
	}
	return d, nil
}

// resolveDataset makes the paths of a record absolute for callers.
func (l *Library) resolveDataset(d Dataset) Dataset {
	if d.Name != "" {
		d.Path = l.abs(d.Path)
	}
	return d
}

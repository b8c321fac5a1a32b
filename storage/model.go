package storage

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
	"github.com/qlora-studio/qlora-studio/trainer/tokenizer"
)

// Model is an imported model: where its files are, what it is, and the NF4 bases cached for it.
type Model struct {
	Name   string `json:"name"`
	Path   string `json:"path"`   // the folder training reads: the copy in the library, or the original
	Source string `json:"source"` // the folder it was imported from
	Copied bool   `json:"copied"`
	Folder string `json:"folder"` // its own folder in the library (the copy, the NF4 caches), relative to it

	Architecture     string `json:"architecture"`
	Layers           int    `json:"layers"`
	HiddenSize       int    `json:"hidden_size"`
	IntermediateSize int    `json:"intermediate_size"`
	Heads            int    `json:"heads"`
	KVHeads          int    `json:"kv_heads"`
	VocabSize        int    `json:"vocab_size"`
	Context          int    `json:"context"`
	Parameters       int64  `json:"parameters"`
	TensorBytes      int64  `json:"tensor_bytes"`           // tensor data in its safetensors files
	Quantization     string `json:"quantization,omitempty"` // set for a pre-quantized checkpoint

	TokenizerVocab int  `json:"tokenizer_vocab"`
	ChatTemplate   bool `json:"chat_template"` // the tokenizer has a chat template of its own

	Files []File    `json:"files"`
	NF4   []NF4Base `json:"nf4,omitempty"`
	Added time.Time `json:"added"`
}

// Bytes is the size of the model's files.
func (m Model) Bytes() int64 { return sumBytes(m.Files) }

// folders are the library folders the model uses.
func (m Model) folders() []string {
	dirs := []string{m.Folder}
	for _, c := range m.NF4 {
		dirs = append(dirs, c.Path)
	}
	return dirs
}

// ModelOptions choose how a model is imported.
type ModelOptions struct {
	Name     string   // "" takes the folder's name
	Copy     bool     // copy the files into the library; else they are used where they are
	Progress Progress // called while files are hashed or copied
}

// modelDocs are the files besides weights, config and tokenizer that a copy keeps: the licence
// and the model card go with the weights.
var modelDocs = []string{"LICENSE*", "LICENCE*", "README*", "USE_POLICY*", "NOTICE*"}

// tokenizerFiles are the tokenizer and generation files a model folder may hold.
var tokenizerFiles = []string{
	"tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json",
	"added_tokens.json", "vocab.json", "merges.txt", "generation_config.json", "chat_template.jinja",
}

// AddModel validates the model folder dir (config, every tensor the model needs, the tokenizer)
// and records it, referenced in place or copied into the library. Nothing is recorded or left in
// the library when it fails or is killed.
func (l *Library) AddModel(dir string, opt ModelOptions) (Model, error) {
	src, err := filepath.Abs(dir)
	if err != nil {
		return Model{}, err
	}
	name := opt.Name
	if name == "" {
		name = filepath.Base(src)
	}
	if err := checkName("model", name); err != nil {
		return Model{}, err
	}
	if err := l.view(func(tx *bolt.Tx) error { return modelFree(tx, name) }); err != nil {
		return Model{}, err
	}
	m, names, err := inspectModel(src)
	if err != nil {
		return Model{}, err
	}
	m.Name, m.Source, m.Added = name, src, time.Now().UTC()
	if !opt.Copy {
		if m.Files, err = recordFiles(src, names, "", opt.Progress); err != nil {
			return Model{}, err
		}
		m.Path = src
		err = l.update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketModels)
			if err := modelFree(tx, name); err != nil {
				return err
			}
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			m.Folder = filepath.Join(ModelsDir, folderName(seq, name))
			return putModel(tx, m)
		})
		return l.resolveModel(m), err
	}
	var seq uint64
	err = l.update(func(tx *bolt.Tx) error {
		if err := modelFree(tx, name); err != nil {
			return err
		}
		n, err := tx.Bucket(bucketModels).NextSequence()
		if err != nil {
			return err
		}
		m.Folder = filepath.Join(ModelsDir, folderName(n, name))
		seq, err = addPending(tx, opImport, m.Folder)
		return err
	})
	if err != nil {
		return Model{}, err
	}
	dst := filepath.Join(l.dir, m.Folder)
	m.Files, err = recordFiles(src, names, dst, opt.Progress)
	if err == nil {
		_, _, err = inspectModel(dst) // the copy is what training reads: check it as the source was
	}
	if err == nil {
		m.Path, m.Copied = m.Folder, true
		err = l.update(func(tx *bolt.Tx) error {
			if err := modelFree(tx, name); err != nil {
				return err
			}
			if err := putModel(tx, m); err != nil {
				return err
			}
			return deletePending(tx, seq)
		})
	}
	if err != nil {
		l.abandon(seq, m.Folder)
		return Model{}, err
	}
	return l.resolveModel(m), nil
}

// inspectModel validates a model folder as training will read it and describes it, with the names
// of the files that make it up.
func inspectModel(dir string) (Model, []string, error) {
	s, err := model.Inspect(dir)
	if err != nil {
		return Model{}, nil, err
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return Model{}, nil, err
	}
	if tok.VocabSize() > s.VocabSize {
		return Model{}, nil, fmt.Errorf("%s: the tokenizer has %d tokens, more than the model's vocab_size %d (config.json)",
			filepath.Join(dir, "tokenizer.json"), tok.VocabSize(), s.VocabSize)
	}
	_, templErr := tok.ChatTemplate()
	m := Model{
		Architecture: s.Architecture, Layers: s.Layers, HiddenSize: s.HiddenSize, IntermediateSize: s.IntermediateSize,
		Heads: s.Heads, KVHeads: s.KVHeads, VocabSize: s.VocabSize, Context: s.Context, Parameters: s.Parameters,
		TensorBytes: s.Bytes, Quantization: s.Quantization, TokenizerVocab: tok.VocabSize(), ChatTemplate: templErr == nil,
	}
	names, err := modelFileNames(dir)
	return m, names, err
}

// modelFileNames are the files of a model folder that the library records (and copies): config,
// weights and their index, tokenizer and generation files, licence and card. Anything else (other
// formats of the weights, say) is left out.
func modelFileNames(dir string) ([]string, error) {
	ckpt, err := safetensors.OpenDir(dir)
	if err != nil {
		return nil, err
	}
	names := []string{"config.json"}
	for _, f := range ckpt.Files {
		names = append(names, filepath.Base(f.Path))
	}
	ckpt.Close()
	extra := append([]string{safetensors.IndexName}, tokenizerFiles...)
	for _, pattern := range modelDocs {
		matches, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, m := range matches {
			extra = append(extra, filepath.Base(m))
		}
	}
	for _, name := range extra {
		if st, err := os.Stat(filepath.Join(dir, name)); err == nil && st.Mode().IsRegular() {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return compactStrings(names), nil
}

func compactStrings(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// modelFree refuses a name taken by another model.
func modelFree(tx *bolt.Tx, name string) error {
	if v := tx.Bucket(bucketModels).Get([]byte(name)); v != nil {
		return fmt.Errorf("%w: a model named %q is already there; choose another name", ErrExists, name)
	}
	return nil
}

// Models lists the models, by name.
func (l *Library) Models() ([]Model, error) {
	var out []Model
	err := l.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketModels).ForEach(func(k, v []byte) error {
			m, err := decodeModel(v)
			if err != nil {
				return fmt.Errorf("model %q: %w", k, err)
			}
			out = append(out, l.resolveModel(m))
			return nil
		})
	})
	return out, err
}

// Model is the model with this name; ErrNotFound when there is none.
func (l *Library) Model(name string) (Model, error) {
	var m Model
	err := l.view(func(tx *bolt.Tx) (err error) {
		m, err = getModel(tx, name)
		return err
	})
	return l.resolveModel(m), err
}

// ModelByPath is the model whose folder (or source folder) is dir, so that a run given a path
// still links to the model it came from; ErrNotFound when there is none.
func (l *Library) ModelByPath(dir string) (Model, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Model{}, err
	}
	models, err := l.Models()
	if err != nil {
		return Model{}, err
	}
	for _, m := range models {
		if m.Path == abs || (!m.Copied && m.Source == abs) {
			return m, nil
		}
	}
	return Model{}, fmt.Errorf("%w: no model at %s", ErrNotFound, abs)
}

// RemoveModel removes a model's record, its copy and its NF4 caches; a model referenced in place
// keeps its own folder. A model that runs used is refused with an *InUseError listing them, unless
// force. Runs of a removed model keep its name.
func (l *Library) RemoveModel(name string, force bool) error {
	var seq uint64
	var dirs []string
	err := l.update(func(tx *bolt.Tx) error {
		m, err := getModel(tx, name)
		if err != nil {
			return err
		}
		if !force {
			if users, err := runsUsing(tx, func(r Run) bool { return r.Model == name }); err != nil {
				return err
			} else if len(users) > 0 {
				return &InUseError{Kind: "model", Name: name, Runs: users}
			}
		}
		dirs = []string{m.Folder}
		if seq, err = addPending(tx, opRemove, dirs...); err != nil {
			return err
		}
		return tx.Bucket(bucketModels).Delete([]byte(name))
	})
	if err != nil {
		return err
	}
	return l.finishRemoval(seq, dirs)
}

// InUseError refuses to remove a model or dataset that runs used.
type InUseError struct {
	Kind, Name string
	Runs       []string // the runs' names
}

func (e *InUseError) Error() string {
	shown := e.Runs
	more := ""
	if len(shown) > 10 {
		shown, more = shown[:10], fmt.Sprintf(" and %d more", len(e.Runs)-10)
	}
	return fmt.Sprintf("the %s %q is used by %d %s: %s%s; remove them first, or force it (the runs stay, naming a %s that is gone)",
		e.Kind, e.Name, len(e.Runs), plural(len(e.Runs), "run", "runs"), strings.Join(shown, ", "), more, e.Kind)
}

// Is makes errors.Is(err, ErrInUse) true.
func (e *InUseError) Is(target error) bool { return target == ErrInUse }

func getModel(tx *bolt.Tx, name string) (Model, error) {
	v := tx.Bucket(bucketModels).Get([]byte(name))
	if v == nil {
		return Model{}, fmt.Errorf("%w: no model named %q", ErrNotFound, name)
	}
	m, err := decodeModel(v)
	if err != nil {
		return Model{}, fmt.Errorf("model %q: %w", name, err)
	}
	return m, nil
}

func putModel(tx *bolt.Tx, m Model) error {
	v, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketModels).Put([]byte(m.Name), v)
}

// decodeModel reads a model record, refusing one that lacks what every record has.
func decodeModel(v []byte) (Model, error) {
	var m Model
	if err := json.Unmarshal(v, &m); err != nil {
		return Model{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if m.Name == "" || m.Path == "" || m.Folder == "" || !filepath.IsLocal(m.Folder) {
		return Model{}, fmt.Errorf("%w: model record without name, path or a folder inside the library", ErrCorrupt)
	}
	for _, c := range m.NF4 {
		if !filepath.IsLocal(c.Path) {
			return Model{}, fmt.Errorf("%w: NF4 base %q outside the library", ErrCorrupt, c.Path)
		}
	}
	return m, nil
}

// resolveModel makes the paths of a record absolute for callers.
func (l *Library) resolveModel(m Model) Model {
	if m.Name == "" {
		return m
	}
	m.Path = l.abs(m.Path)
	m.NF4 = append([]NF4Base(nil), m.NF4...)
	for i := range m.NF4 {
		m.NF4[i].Path = l.abs(m.NF4[i].Path)
	}
	return m
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

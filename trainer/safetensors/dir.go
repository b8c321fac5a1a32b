package safetensors

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// SingleName is the file of an unsharded checkpoint.
const SingleName = "model.safetensors"

// IndexName is the file that maps tensor names to shards in a sharded checkpoint.
const IndexName = "model.safetensors.index.json"

// Dir is the set of safetensors files of one checkpoint folder, addressed by tensor name.
type Dir struct {
	Path  string
	Files []*File // in file-name order

	where map[string]*File
}

// index is the JSON of model.safetensors.index.json.
type index struct {
	Metadata  map[string]any    `json:"metadata"`
	WeightMap map[string]string `json:"weight_map"`
}

// OpenDir opens the checkpoint in dir: the shards named by model.safetensors.index.json when there
// is one, else model.safetensors when there is one, else every *.safetensors file in the folder
// (other files beside a model, such as Mistral's consolidated.safetensors, are not read). A tensor
// stored twice, or one the index names but its shard lacks, is an error.
func OpenDir(dir string) (*Dir, error) {
	names, idx, err := checkpointFiles(dir)
	if err != nil {
		return nil, err
	}
	d := &Dir{Path: dir, where: map[string]*File{}}
	for _, name := range names {
		f, err := Open(filepath.Join(dir, name))
		if err != nil {
			d.Close()
			return nil, err
		}
		d.Files = append(d.Files, f)
		for _, t := range f.order {
			if prev, dup := d.where[t]; dup {
				d.Close()
				return nil, fmt.Errorf("%s: tensor %q is stored in both %s and %s", dir, t, filepath.Base(prev.Path), name)
			}
			d.where[t] = f
		}
	}
	if err := d.checkIndex(idx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// checkpointFiles lists the files to open, and the index when the checkpoint is sharded.
func checkpointFiles(dir string) ([]string, *index, error) {
	indexPath := filepath.Join(dir, IndexName)
	js, err := os.ReadFile(indexPath)
	if os.IsNotExist(err) {
		if _, err := os.Stat(filepath.Join(dir, SingleName)); err == nil {
			return []string{SingleName}, nil, nil
		}
		matches, err := filepath.Glob(filepath.Join(dir, "*.safetensors"))
		if err != nil {
			return nil, nil, err
		}
		if len(matches) == 0 {
			return nil, nil, fmt.Errorf("%s: no .safetensors files", dir)
		}
		for i, m := range matches {
			matches[i] = filepath.Base(m)
		}
		return matches, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	idx := &index{}
	if err := json.Unmarshal(js, idx); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", indexPath, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, nil, fmt.Errorf("%s: weight_map is empty", indexPath)
	}
	seen := map[string]bool{}
	var names []string
	for tensor, file := range idx.WeightMap {
		if file != filepath.Base(file) {
			return nil, nil, fmt.Errorf("%s: tensor %q: shard %q is not a plain file name", indexPath, tensor, file)
		}
		if !seen[file] {
			seen[file] = true
			names = append(names, file)
		}
	}
	sort.Strings(names)
	return names, idx, nil
}

// checkIndex requires each tensor the index names to be in the shard it names.
func (d *Dir) checkIndex(idx *index) error {
	if idx == nil {
		return nil
	}
	for tensor, file := range idx.WeightMap {
		f, ok := d.where[tensor]
		if !ok || filepath.Base(f.Path) != file {
			return fmt.Errorf("%s: %s names tensor %q in %s, but that shard does not hold it", d.Path, IndexName, tensor, file)
		}
	}
	return nil
}

// Close unmaps every file.
func (d *Dir) Close() error {
	var first error
	for _, f := range d.Files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Names lists every tensor of the checkpoint, sorted.
func (d *Dir) Names() []string {
	names := make([]string, 0, len(d.where))
	for n := range d.where {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Info describes the named tensor without touching its data.
func (d *Dir) Info(name string) (Info, bool) {
	f, ok := d.where[name]
	if !ok {
		return Info{}, false
	}
	return f.Info(name)
}

// Tensor returns the named tensor from whichever shard holds it.
func (d *Dir) Tensor(name string) (Tensor, error) {
	f, ok := d.where[name]
	if !ok {
		return Tensor{}, fmt.Errorf("%s: no tensor %q", d.Path, name)
	}
	return f.Tensor(name)
}

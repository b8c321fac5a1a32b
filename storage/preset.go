package storage

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.yaml.in/yaml/v3"
)

// Preset is a user's own starting point for runs: a YAML layer of configuration keys, like the
// built-in presets.
type Preset struct {
	Name        string    `json:"name"`
	Title       string    `json:"title,omitempty"`
	Description string    `json:"description,omitempty"`
	YAML        string    `json:"yaml"`
	Saved       time.Time `json:"saved"`
}

// SavePreset records a preset, replacing one of the same name. Its YAML must be a mapping of keys;
// which keys are known is the run configuration's business, checked when a run uses it.
func (l *Library) SavePreset(p Preset) error {
	if err := checkName("preset", p.Name); err != nil {
		return err
	}
	var m map[string]any
	if err := yaml.Unmarshal([]byte(p.YAML), &m); err != nil {
		return fmt.Errorf("preset %q: %w", p.Name, err)
	}
	p.Saved = time.Now().UTC()
	v, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return l.update(func(tx *bolt.Tx) error { return tx.Bucket(bucketPresets).Put([]byte(p.Name), v) })
}

// Preset is the preset with this name; ErrNotFound when there is none.
func (l *Library) Preset(name string) (Preset, error) {
	var p Preset
	err := l.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketPresets).Get([]byte(name))
		if v == nil {
			return fmt.Errorf("%w: no preset named %q", ErrNotFound, name)
		}
		var err error
		p, err = decodePreset(v)
		return err
	})
	return p, err
}

// Presets lists the user's presets, by name.
func (l *Library) Presets() ([]Preset, error) {
	var out []Preset
	err := l.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPresets).ForEach(func(k, v []byte) error {
			p, err := decodePreset(v)
			if err != nil {
				return fmt.Errorf("preset %q: %w", k, err)
			}
			out = append(out, p)
			return nil
		})
	})
	return out, err
}

// DeletePreset removes a preset; ErrNotFound when there is none.
func (l *Library) DeletePreset(name string) error {
	return l.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPresets)
		if b.Get([]byte(name)) == nil {
			return fmt.Errorf("%w: no preset named %q", ErrNotFound, name)
		}
		return b.Delete([]byte(name))
	})
}

func decodePreset(v []byte) (Preset, error) {
	var p Preset
	if err := json.Unmarshal(v, &p); err != nil {
		return Preset{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if p.Name == "" {
		return Preset{}, fmt.Errorf("%w: preset record without a name", ErrCorrupt)
	}
	return p, nil
}

package axolotl

import (
	"fmt"
	"math"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// Config is an axolotl configuration being written: its keys in the order they were set, each
// with its value and, where it says where the value came from, a comment.
type Config struct {
	keys     []string
	values   map[string]any
	comments map[string]string
}

// NewConfig returns an empty configuration.
func NewConfig() *Config {
	return &Config{values: map[string]any{}, comments: map[string]string{}}
}

// Set gives key a value, with an optional comment written beside it. Setting a key again keeps
// its place.
func (c *Config) Set(key string, v any, comment string) {
	if _, ok := c.values[key]; !ok {
		c.keys = append(c.keys, key)
	}
	c.values[key] = v
	if comment != "" {
		c.comments[key] = comment
	}
}

// Marshal writes the configuration as YAML, keys in the order set, comments beside them.
func (c *Config) Marshal() ([]byte, error) {
	root := &yaml.Node{Kind: yaml.MappingNode}
	for _, k := range c.keys {
		var v yaml.Node
		if err := v.Encode(c.values[k]); err != nil {
			return nil, fmt.Errorf("axolotl key %s: %w", k, err)
		}
		key := &yaml.Node{Kind: yaml.ScalarNode, Value: k, LineComment: c.comments[k]}
		root.Content = append(root.Content, key, &v)
	}
	return yaml.Marshal(root)
}

// Note is a key that one side has and the other cannot express, or a value changed on the way
// across. Nothing is dropped without one.
type Note struct {
	Side  string `json:"side"`  // whose key: Ours, Axolotl, or the file that holds it (adapter_config.json)
	Key   string `json:"key"`   // as that side names it
	Value any    `json:"value"` // its value there
	What  string `json:"what"`  // what became of it
}

// The sides of a Note.
const (
	Ours    = "ours"
	Axolotl = "axolotl"
)

func (n Note) String() string {
	return fmt.Sprintf("%s key %s: %v: %s", n.Side, n.Key, n.Value, n.What)
}

// The value readers below take what yaml.v3 decodes into an `any`: int, float64, string, bool,
// []any, map[string]any. ok is false for a value of another kind.

func asString(v any) (string, bool) {
	s, ok := v.(string)
	return s, ok
}

func asBool(v any) (bool, bool) {
	b, ok := v.(bool)
	return b, ok
}

// asFloat reads a number, or a string holding one (axolotl's learning_rate may be "2e-4").
func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case float64:
		return x, true
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	return 0, false
}

// asInt reads a whole number.
func asInt(v any) (int, bool) {
	f, ok := asFloat(v)
	if !ok || f != math.Trunc(f) || math.Abs(f) > math.MaxInt32 {
		return 0, false
	}
	return int(f), true
}

func asStrings(v any) ([]string, bool) {
	list, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, len(list))
	for i, e := range list {
		if out[i], ok = e.(string); !ok {
			return nil, false
		}
	}
	return out, true
}

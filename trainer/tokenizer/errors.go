package tokenizer

import "errors"

// ErrUnsupported is wrapped by Load's error when tokenizer.json asks for a component this package
// does not implement (a WordPiece or Unigram model, a BERT normalizer, a regex Go cannot run, ...).
// The message names the file and the component.
var ErrUnsupported = errors.New("not supported")

// ErrNoChatTemplate is returned when a tokenizer has no chat template of its own (none in
// tokenizer_config.json or chat_template.jinja) and none was chosen.
var ErrNoChatTemplate = errors.New("no chat template")

package storage

import "errors"

// ErrBusy means another process held the library for longer than Options.Timeout. The error
// returned is a *BusyError that names the holder when it can be found.
var ErrBusy = errors.New("library busy")

// ErrNewerSchema means the library was written by a newer QLoRA Studio; it is left untouched.
var ErrNewerSchema = errors.New("library written by a newer version")

// ErrNotLibrary means the database file holds data that is not a QLoRA Studio library.
var ErrNotLibrary = errors.New("not a QLoRA Studio library")

// ErrNotFound means no model, dataset, run, preset or export has the name asked for.
var ErrNotFound = errors.New("not in the library")

// ErrExists means the name asked for is taken by another record of the same kind.
var ErrExists = errors.New("already in the library")

// ErrInUse means a model or dataset still has runs that use it; the error returned is an
// *InUseError that lists them.
var ErrInUse = errors.New("in use by runs")

// ErrInvalidName means a name is empty, too long, or holds a path separator or a control character.
var ErrInvalidName = errors.New("invalid name")

// ErrCorrupt means a record in the database could not be decoded.
var ErrCorrupt = errors.New("corrupt record")

// ErrChanged means a model's files are no longer what was imported (size or modification time).
var ErrChanged = errors.New("changed since it was imported")

// ErrPreQuantized means a model needs no NF4 base of the library's: its checkpoint is NF4 already.
var ErrPreQuantized = errors.New("pre-quantized model")

// ErrClosed means the Library was used after Close.
var ErrClosed = errors.New("library closed")

// Package run is the training loop: the resolved run configuration, events, evaluation,
// generation, checkpoints and exact resume. It writes the run folder and never touches the library
// database or the UI.
package run

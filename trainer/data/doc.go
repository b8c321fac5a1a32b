// Package data turns a user's dataset file (JSONL, JSON, CSV, Parquet in the alpaca, sharegpt,
// messages, completion, text or pre-tokenized forms) into masked, packed training batches, and
// reports bad records with their file and line.
package data

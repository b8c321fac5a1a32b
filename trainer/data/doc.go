// Package data turns a user's dataset file into the masked, packed batches the training loop feeds
// the model, and says exactly what was wrong with every row it could not use.
//
// The way through, one file per step:
//
//   - read.go, read_json.go, read_csv.go, read_parquet.go: JSON Lines, JSON arrays, CSV/TSV and
//     Parquet files become Records, each with its 1-based line (the row number for Parquet). A row
//     that cannot be parsed becomes a *RecordError naming the file, the line and the field; it is
//     counted and listed, never silently dropped.
//   - shape.go: the dataset's shape (alpaca, sharegpt, messages, completion, text, tokenized) is
//     detected from its columns, or given; Columns maps our field names to the file's.
//   - example.go: a Record becomes an example: a conversation, a prompt and completion, a text, or
//     token ids with labels.
//   - tokenize.go, template.go: an example becomes a Sample of token ids and unshifted labels,
//     conversations rendered through the model's chat template (or a built-in one), -100 on
//     everything but the answers unless train_on_inputs.
//   - dataset.go: Load runs those steps for one file and truncates to the maximum length. Bad rows
//     fail it (a *BadRecordsError, with the dataset for a report) unless the caller skips them.
//   - split.go: a seeded validation split, or a second file (LoadSets).
//   - stats.go, report.go, spans.go: lengths against the maximum, truncation, packing efficiency,
//     tokens per epoch, and samples decoded with the trained-on part marked.
//   - pack.go, loader.go: the Loader packs samples into sequences (best fit decreasing) with segment
//     ids and restarting positions, and yields a *model.Batch for any (epoch, step): the order is a
//     counter-based seeded permutation per epoch, so a resumed run jumps to its Position without
//     replaying.
//
// Targets in a batch are already shifted: Targets[i] is the label of token i+1 of the same sample,
// -100 at the last token of each sample, on padding and where the label is masked. Padding carries
// the pad id, a segment id of its own and no target.
//
// The package declares the little it needs of a tokenizer (Tokenizer, ChatTemplate) and produces
// trainer/model's Batch (trainer/model does not import this package). It must not do UI, database
// or network work, and knows nothing of the model's insides beyond the Batch it fills.
package data

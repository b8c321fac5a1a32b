// Package storage is the library: models, datasets, runs, their metrics, presets and exports,
// recorded in a bbolt database with a schema version. Large files live in the library folder; the
// database holds their paths, sizes and hashes. It knows nothing of the UI or of training internals.
package storage

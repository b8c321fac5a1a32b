package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The top-level buckets of schema version 1.
var (
	bucketMeta       = []byte("meta")        // schema version, creation time
	bucketModels     = []byte("models")      // name → Model
	bucketDatasets   = []byte("datasets")    // name → Dataset
	bucketRuns       = []byte("runs")        // id (8 bytes, big-endian) → Run
	bucketRunNames   = []byte("run_names")   // name → id
	bucketRunDirs    = []byte("run_dirs")    // absolute run folder → id
	bucketRunConfigs = []byte("run_configs") // id → RunConfig (run.yaml and the plan)
	bucketMetrics    = []byte("metrics")     // id → bucket of the run's series (see metrics.go)
	bucketExports    = []byte("exports")     // id + sequence → Export
	bucketPresets    = []byte("presets")     // name → Preset
	bucketSettings   = []byte("settings")    // key → value
	bucketPending    = []byte("pending")     // sequence → pending (see pending.go)

	keySchema  = []byte("schema")
	keyCreated = []byte("created")
)

// migration takes the database from one schema version to the next, inside the transaction that
// records the new version.
type migration struct {
	name  string
	apply func(tx *bolt.Tx) error
}

// migrations[v] takes version v to v+1, so len(migrations) is the current schema version. Version 0
// is a new, empty file. A migration must be written so that it can run on any library of the
// version before it; they all run in one transaction, after the file is backed up.
var migrations = []migration{
	{"create the buckets", createBuckets},
}

// SchemaVersion is the schema this package reads and writes.
func SchemaVersion() int { return len(migrations) }

// createBuckets is schema version 1: its list is frozen, as every migration's must be.
func createBuckets(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketMeta, bucketModels, bucketDatasets, bucketRuns, bucketRunNames,
		bucketRunDirs, bucketRunConfigs, bucketMetrics, bucketExports, bucketPresets, bucketSettings, bucketPending} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketMeta).Put(keyCreated, []byte(time.Now().UTC().Format(time.RFC3339)))
}

// errForeign stops the scan of a file without a meta bucket at its first bucket.
var errForeign = errors.New("foreign bucket")

// readVersion is the schema version recorded in the database: 0 for a new, empty file.
func readVersion(tx *bolt.Tx, path string) (int, error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		if err := tx.ForEach(func([]byte, *bolt.Bucket) error { return errForeign }); err != nil {
			return 0, fmt.Errorf("%s: %w: it holds buckets but no schema version", path, ErrNotLibrary)
		}
		return 0, nil
	}
	v, err := strconv.Atoi(string(meta.Get(keySchema)))
	if err != nil || v < 1 {
		return 0, fmt.Errorf("%s: %w: schema version %q", path, ErrNotLibrary, meta.Get(keySchema))
	}
	return v, nil
}

// migrate checks the schema version and upgrades an older library, after copying it to backups/.
// A newer library is refused without a single write.
func (l *Library) migrate(db *bolt.DB) error {
	var version int
	if err := db.View(func(tx *bolt.Tx) (err error) {
		version, err = readVersion(tx, l.Path())
		return err
	}); err != nil {
		return err
	}
	current := SchemaVersion()
	switch {
	case version > current:
		return fmt.Errorf("%w: %s has schema version %d, and this program reads versions up to %d. "+
			"Use the newer QLoRA Studio that wrote it, or another library (--library DIR); this one was left as it was",
			ErrNewerSchema, l.Path(), version, current)
	case version == current:
		return db.View(func(tx *bolt.Tx) error { return checkBuckets(tx, l.Path()) })
	}
	if version > 0 {
		if err := l.backup(db, version); err != nil {
			return err
		}
	}
	return db.Update(func(tx *bolt.Tx) error {
		for v := version; v < current; v++ {
			if err := migrations[v].apply(tx); err != nil {
				return fmt.Errorf("%s: migrating schema version %d to %d (%s): %w", l.Path(), v, v+1, migrations[v].name, err)
			}
		}
		return tx.Bucket(bucketMeta).Put(keySchema, []byte(strconv.Itoa(current)))
	})
}

// backup copies the database, as one consistent snapshot, to backups/library-vN-TIME.db.
func (l *Library) backup(db *bolt.DB, version int) error {
	dir := filepath.Join(l.dir, BackupsDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, fmt.Sprintf("library-v%d-%s.db", version, time.Now().UTC().Format("20060102-150405.000")))
	return db.View(func(tx *bolt.Tx) error {
		if err := tx.CopyFile(path, 0o644); err != nil {
			return fmt.Errorf("backing up the library before migrating it: %w", err)
		}
		return nil
	})
}

// topBuckets are the buckets every library of the current schema has; Open checks them once, so
// the methods use tx.Bucket without a nil check.
func topBuckets() [][]byte {
	return [][]byte{bucketMeta, bucketModels, bucketDatasets, bucketRuns, bucketRunNames,
		bucketRunDirs, bucketRunConfigs, bucketMetrics, bucketExports, bucketPresets, bucketSettings, bucketPending}
}

// checkBuckets makes sure every top-level bucket is there.
func checkBuckets(tx *bolt.Tx, path string) error {
	for _, name := range topBuckets() {
		if tx.Bucket(name) == nil {
			return fmt.Errorf("%s: %w: the bucket %q is missing", path, ErrCorrupt, name)
		}
	}
	return nil
}

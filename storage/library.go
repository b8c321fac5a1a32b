package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// The files and folders of a library.
const (
	DBName      = "library.db"
	HolderName  = "library.holder"
	ModelsDir   = "models"
	DatasetsDir = "datasets"
	BackupsDir  = "backups"
	RunsDir     = "runs" // run folders the library finds here are adopted by Refresh
)

// DefaultTimeout is how long a process waits for another one holding the library.
const DefaultTimeout = 2 * time.Second

// Options choose how a library is opened.
type Options struct {
	// Timeout is how long to wait for a process holding the database before failing with a
	// *BusyError; 0 means DefaultTimeout.
	Timeout time.Duration
	// KeepOpen holds the database from Open to Close, as the desktop app does while it owns the
	// library, instead of taking it for each operation.
	KeepOpen bool
	// Holder describes this process in library.holder; "" uses its command line.
	Holder string
}

// Library is a library folder and its database. Its methods are safe for concurrent use.
type Library struct {
	dir string
	opt Options

	// mu serialises this process's opening of the database (bbolt's lock is per open file, so two
	// opens in one process would wait for each other) and guards db.
	mu     sync.RWMutex
	db     *bolt.DB // held open with KeepOpen (unless lent); nil between operations otherwise
	closed bool
	lent   int // Lend calls going on
}

// DefaultDir is the library folder when none is named: $QLORA_LIBRARY, else
// $XDG_DATA_HOME/qlora-studio, else ~/.local/share/qlora-studio.
func DefaultDir() (string, error) {
	if dir := os.Getenv("QLORA_LIBRARY"); dir != "" {
		return dir, nil
	}
	if dir := os.Getenv("XDG_DATA_HOME"); dir != "" {
		return filepath.Join(dir, "qlora-studio"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no library folder: set QLORA_LIBRARY or XDG_DATA_HOME (%v)", err)
	}
	return filepath.Join(home, ".local", "share", "qlora-studio"), nil
}

// Open opens the library in dir (DefaultDir when dir is ""), creating it when it does not exist.
// It checks the schema version, migrates an older library and clears what a killed process left
// half done. Unless opt.KeepOpen, the database is closed again before Open returns.
func Open(dir string, opt *Options) (*Library, error) {
	var o Options
	if opt != nil {
		o = *opt
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if dir == "" {
		var err error
		if dir, err = DefaultDir(); err != nil {
			return nil, err
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("library folder: %w", err)
	}
	l := &Library{dir: abs, opt: o}
	db, err := l.openDB()
	if err != nil {
		return nil, err
	}
	if err := l.prepare(db); err != nil {
		l.closeDB(db)
		return nil, err
	}
	if o.KeepOpen {
		l.db = db
	} else {
		l.closeDB(db)
	}
	return l, nil
}

// Dir is the library folder, absolute.
func (l *Library) Dir() string { return l.dir }

// Path is the database file.
func (l *Library) Path() string { return filepath.Join(l.dir, DBName) }

// Close releases the database if it is held open. A closed Library refuses every method.
func (l *Library) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if l.db != nil {
		err := l.closeDB(l.db)
		l.db = nil
		return err
	}
	return nil
}

// Check runs bbolt's consistency check over the whole database and returns every problem found,
// joined, or nil.
func (l *Library) Check() error {
	return l.with(func(db *bolt.DB) error {
		return db.View(func(tx *bolt.Tx) error {
			var errs []error
			for err := range tx.Check() {
				errs = append(errs, err)
			}
			return errors.Join(errs...)
		})
	})
}

// openDB opens the database file, waiting up to the timeout for another holder, and notes this
// process as the holder.
func (l *Library) openDB() (*bolt.DB, error) {
	path := l.Path()
	db, err := bolt.Open(path, 0o644, &bolt.Options{Timeout: l.opt.Timeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, l.busy()
	}
	if errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrChecksum) || errors.Is(err, berrors.ErrVersionMismatch) {
		return nil, fmt.Errorf("%s: %w (%v)", path, ErrNotLibrary, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	writeHolder(filepath.Join(l.dir, HolderName), l.opt.Holder)
	return db, nil
}

// closeDB removes the holder note, then closes (and so unlocks) the database: in that order, so a
// note never names a process that no longer holds the lock while another one does.
func (l *Library) closeDB(db *bolt.DB) error {
	os.Remove(filepath.Join(l.dir, HolderName))
	return db.Close()
}

// acquire gives the database for one operation and the function that gives it back: the one
// held open, else (without KeepOpen, or while lent) the file opened for this operation alone.
func (l *Library) acquire() (*bolt.DB, func(), error) {
	l.mu.RLock()
	if l.db != nil {
		return l.db, l.mu.RUnlock, nil
	}
	l.mu.RUnlock()
	l.mu.Lock()
	switch {
	case l.closed:
		l.mu.Unlock()
		return nil, nil, ErrClosed
	case l.db != nil: // held again meanwhile
		return l.db, l.mu.Unlock, nil
	}
	db, err := l.openDB()
	if err != nil {
		l.mu.Unlock()
		return nil, nil, err
	}
	return db, func() { l.closeDB(db); l.mu.Unlock() }, nil
}

// with runs fn with the database held.
func (l *Library) with(fn func(db *bolt.DB) error) error {
	db, release, err := l.acquire()
	if err != nil {
		return err
	}
	defer release()
	return fn(db)
}

// update runs fn in one read-write transaction.
func (l *Library) update(fn func(tx *bolt.Tx) error) error {
	return l.with(func(db *bolt.DB) error { return db.Update(fn) })
}

// view runs fn in one read-only transaction.
func (l *Library) view(fn func(tx *bolt.Tx) error) error {
	return l.with(func(db *bolt.DB) error { return db.View(fn) })
}

// prepare brings a freshly opened database to the current schema and clears what killed processes
// left pending.
func (l *Library) prepare(db *bolt.DB) error {
	if err := l.migrate(db); err != nil {
		return err
	}
	return l.sweep(db)
}

// abs turns a path recorded relative to the library into an absolute one; absolute paths (models
// referenced in place) stay as they are.
func (l *Library) abs(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(l.dir, p)
}

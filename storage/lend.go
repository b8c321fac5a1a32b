package storage

import (
	"errors"
	"fmt"
)

// Lend lets other processes write to the library while fn runs, as when the desktop app, which
// holds the database (KeepOpen), runs a command that records in the library itself (`qlora demo`).
// Until fn returns, this Library opens the database for each operation, as it does without
// KeepOpen; then it holds it again. Lends may overlap: the last to end takes the database back.
// If it cannot (another process holds it past the timeout), the error says so and the Library
// goes on opening the database per operation. Without KeepOpen, Lend just runs fn.
func (l *Library) Lend(fn func() error) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	if !l.opt.KeepOpen {
		l.mu.Unlock()
		return fn()
	}
	l.lent++
	if l.db != nil {
		l.closeDB(l.db)
		l.db = nil
	}
	l.mu.Unlock()

	err := fn()

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lent--; l.lent > 0 || l.closed {
		return err
	}
	db, openErr := l.openDB()
	if openErr != nil {
		return errors.Join(err, fmt.Errorf("taking the library back: %w", openErr))
	}
	l.db = db
	return err
}

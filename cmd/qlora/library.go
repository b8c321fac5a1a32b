package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/qlora-studio/qlora-studio/storage"
)

// libraryFlags are --library (and, for train and resume, --no-library).
type libraryFlags struct {
	dir string
	off bool
}

func addLibraryFlags(fs *flag.FlagSet, withOff bool) *libraryFlags {
	f := &libraryFlags{}
	fs.StringVar(&f.dir, "library", "", "the library folder (default $QLORA_LIBRARY, else $XDG_DATA_HOME/qlora-studio)")
	if withOff {
		fs.BoolVar(&f.off, "no-library", false, "do not touch the library: paths only, the run not recorded (the desktop app's child)")
	}
	return f
}

// open opens the library for this command's short transactions.
func (f *libraryFlags) open() (*storage.Library, error) {
	return storage.Open(f.dir, nil)
}

func runLibrary(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("library", "[info | check] [--library DIR] [--json]", stderr)
	lf := addLibraryFlags(fs, false)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 || (len(pos) == 1 && pos[0] != "info" && pos[0] != "check") {
		return fmt.Errorf("%w: qlora library [info | check]", errUsage)
	}
	lib, err := lf.open()
	if err != nil {
		return err
	}
	defer lib.Close()
	if len(pos) == 1 && pos[0] == "check" {
		if err := lib.Check(); err != nil {
			return fmt.Errorf("%s fails bbolt's consistency check:\n%v", lib.Path(), err)
		}
		fmt.Fprintf(stdout, "%s: consistent\n", lib.Path())
		return nil
	}
	info, err := libraryInfo(lib)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, info)
	}
	fmt.Fprintf(stdout, "library   %s\ndatabase  %s, schema version %d\nmodels    %d\ndatasets  %d\nruns      %d\n",
		info.Dir, sizeText(info.DatabaseBytes), info.Schema, info.Models, info.Datasets, info.Runs)
	return nil
}

type libraryInfoJSON struct {
	Dir           string `json:"dir"`
	Database      string `json:"database"`
	DatabaseBytes int64  `json:"database_bytes"`
	Schema        int    `json:"schema_version"`
	Models        int    `json:"models"`
	Datasets      int    `json:"datasets"`
	Runs          int    `json:"runs"`
}

func libraryInfo(lib *storage.Library) (libraryInfoJSON, error) {
	info := libraryInfoJSON{Dir: lib.Dir(), Database: lib.Path(), Schema: storage.SchemaVersion()}
	if st, err := os.Stat(lib.Path()); err == nil {
		info.DatabaseBytes = st.Size()
	}
	models, err := lib.Models()
	if err != nil {
		return info, err
	}
	datasets, err := lib.Datasets()
	if err != nil {
		return info, err
	}
	runs, err := lib.Runs()
	info.Models, info.Datasets, info.Runs = len(models), len(datasets), len(runs)
	return info, err
}

// subcommand splits `qlora models add ...` into "add" and its arguments.
func subcommand(args []string, synopsis string) (string, []string, error) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return "", nil, fmt.Errorf("%w: %s", errUsage, synopsis)
	}
	return args[0], args[1:], nil
}

// writeJSON prints v indented, HTML left as it is.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// table prints aligned columns.
func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 2, 8, 2, ' ', 0) }

func sizeText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func countText(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

// byteProgress reports bytes hashed or copied on stderr, as progress does for tensors.
func byteProgress(w io.Writer, label string) (storage.Progress, func()) {
	p := newProgress(w, label)
	last := time.Time{}
	return func(done, total int64) {
			interval := 200 * time.Millisecond
			if !p.terminal {
				interval = 5 * time.Second
			}
			if done < total && time.Since(last) < interval {
				return
			}
			last = time.Now()
			line := fmt.Sprintf("%s: %s of %s (%d%%)", label, sizeText(done), sizeText(total), 100*done/max(total, 1))
			if p.terminal {
				fmt.Fprint(w, "\r"+line)
				p.shown = true
			} else {
				fmt.Fprintln(w, line)
			}
		}, func() {
			p.finish()
		}
}

// isPathArg says whether a --model or --data value is meant as a path: it holds a path separator,
// or something exists under that name. Anything else is a library name.
func isPathArg(arg string) bool {
	if strings.ContainsRune(arg, filepath.Separator) || strings.ContainsRune(arg, '/') {
		return true
	}
	_, err := os.Stat(arg)
	return err == nil
}

// notFoundHint adds what to do to a library lookup that failed.
func notFoundHint(err error, kind, arg, list string) error {
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%q is neither a %s on disk nor in the library (see qlora %s list)", arg, kind, list)
	}
	return err
}

// listing is one `qlora X list` command: how to fetch the records, what to say when there are none,
// and the table's header and rows.
type listing[T any] struct {
	name, empty, header string
	fetch               func(*storage.Library) ([]T, error)
	row                 func(T) string
}

// run parses `X list [--json]`, reads the records in one short library session and prints them as
// JSON (an empty list, never null) or a table.
func (l listing[T]) run(args []string, stdout, stderr io.Writer) error {
	fs := newFlags(l.name, "[--json]", stderr)
	lf := addLibraryFlags(fs, false)
	asJSON := fs.Bool("json", false, "print JSON")
	if pos, err := parseInterspersed(fs, args); err != nil {
		return err
	} else if len(pos) != 0 {
		return fmt.Errorf("%w: qlora %s [--json]", errUsage, l.name)
	}
	lib, err := lf.open()
	if err != nil {
		return err
	}
	defer lib.Close()
	records, err := l.fetch(lib)
	if err != nil {
		return err
	}
	if *asJSON {
		if records == nil {
			records = []T{}
		}
		return writeJSON(stdout, records)
	}
	if len(records) == 0 {
		fmt.Fprintln(stdout, l.empty)
		return nil
	}
	w := table(stdout)
	fmt.Fprintln(w, l.header)
	for _, r := range records {
		fmt.Fprintln(w, l.row(r))
	}
	return w.Flush()
}

// removal is one `qlora X rm NAME [--force]` command: remove takes the record out of the library and
// says what became of its files.
type removal struct {
	name   string // "models rm"
	remove func(lib *storage.Library, name string, force bool) (string, error)
}

// run parses the arguments, removes the record in one short library session, and prints what
// happened; a record in use is refused, pointing at --force.
func (r removal) run(args []string, stdout, stderr io.Writer) error {
	fs := newFlags(r.name, "NAME [--force]", stderr)
	lf := addLibraryFlags(fs, false)
	force := fs.Bool("force", false, "remove it even though runs used it (they keep its name)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: qlora %s NAME [--force]", errUsage, r.name)
	}
	lib, err := lf.open()
	if err != nil {
		return err
	}
	defer lib.Close()
	done, err := r.remove(lib, pos[0], *force)
	if errors.Is(err, storage.ErrInUse) {
		return fmt.Errorf("%w (--force)", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, done)
	return nil
}

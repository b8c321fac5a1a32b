package storage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestOpen_NewLibrary ensures Open creates the folder and a database at the current schema version
// that passes bbolt's consistency check.
func TestOpen_NewLibrary(t *testing.T) {
	l := openTemp(t, nil)
	if _, err := os.Stat(l.Path()); err != nil {
		t.Fatal(err)
	}
	if err := l.Check(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(l.Path(), 0o644, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *bolt.Tx) error {
		if v := string(tx.Bucket(bucketMeta).Get(keySchema)); v != strconv.Itoa(SchemaVersion()) {
			t.Errorf("schema %q", v)
		}
		return nil
	})
	if _, err := os.Stat(filepath.Join(l.Dir(), HolderName)); !os.IsNotExist(err) {
		t.Errorf("the holder note outlives the operation: %v", err)
	}
}

// TestOpen_NewerSchema ensures a library written by a newer version is refused with a clear
// message and not modified by a single byte.
func TestOpen_NewerSchema(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, DBName)
	writeRaw(t, path, func(tx *bolt.Tx) error {
		meta, _ := tx.CreateBucket(bucketMeta)
		return meta.Put(keySchema, []byte("99"))
	})
	before, _ := os.ReadFile(path)
	_, err := Open(dir, nil)
	wantErr(t, err, ErrNewerSchema)
	if !strings.Contains(err.Error(), "schema version 99") || !strings.Contains(err.Error(), path) {
		t.Errorf("message: %v", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("the newer library was modified")
	}
}

// TestOpen_NotALibrary ensures a bbolt file of another program and a file that is not bbolt at all
// are refused, not taken over.
func TestOpen_NotALibrary(t *testing.T) {
	dir := t.TempDir()
	writeRaw(t, filepath.Join(dir, DBName), func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("someone-elses"))
		return err
	})
	_, err := Open(dir, nil)
	wantErr(t, err, ErrNotLibrary)

	dir = t.TempDir()
	os.WriteFile(filepath.Join(dir, DBName), bytes.Repeat([]byte("not a database\n"), 1000), 0o644)
	_, err = Open(dir, nil)
	wantErr(t, err, ErrNotLibrary)
}

// TestOpen_Migrates ensures an older library is backed up and upgraded in one transaction: a
// synthetic version 2 that renames a model field, run on a version 1 file written by hand.
func TestOpen_Migrates(t *testing.T) {
	defer func(saved []migration) { migrations = saved }(migrations)
	dir := t.TempDir()
	path := filepath.Join(dir, DBName)
	writeRaw(t, path, func(tx *bolt.Tx) error {
		if err := createBuckets(tx); err != nil {
			return err
		}
		tx.Bucket(bucketMeta).Put(keySchema, []byte("1"))
		return tx.Bucket(bucketModels).Put([]byte("m"), []byte(`{"name":"m","path":"/x","folder":"models/0001-m","arch":"llama"}`))
	})
	migrations = append(migrations, migration{"rename arch to architecture", func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketModels)
		return b.ForEach(func(k, v []byte) error {
			return b.Put(k, bytes.Replace(v, []byte(`"arch"`), []byte(`"architecture"`), 1))
		})
	}})
	l, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m, err := l.Model("m")
	if err != nil || m.Architecture != "llama" {
		t.Fatalf("migrated model %+v, %v", m, err)
	}
	backups := entries(filepath.Join(dir, BackupsDir))
	if len(backups) != 1 || !strings.HasPrefix(backups[0], "library-v1-") {
		t.Fatalf("backups %v", backups)
	}
	old := rawVersion(t, filepath.Join(dir, BackupsDir, backups[0]))
	if old != "1" || rawVersion(t, path) != "2" {
		t.Errorf("versions: backup %s, library %s", old, rawVersion(t, path))
	}
}

// TestOpen_FailedMigration ensures a migration that fails leaves the library at its old version
// with its data, and says which step failed.
func TestOpen_FailedMigration(t *testing.T) {
	defer func(saved []migration) { migrations = saved }(migrations)
	dir := t.TempDir()
	l, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	l.SetSetting("theme", "dark")
	l.Close()
	migrations = append(migrations, migration{"half done", func(tx *bolt.Tx) error {
		tx.Bucket(bucketSettings).Put([]byte("theme"), []byte("light"))
		return errors.New("disk on fire")
	}})
	_, err = Open(dir, nil)
	if err == nil || !strings.Contains(err.Error(), "half done") || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("error %v", err)
	}
	migrations = migrations[:len(migrations)-1]
	l, err = Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if v, _, _ := l.Setting("theme"); v != "dark" {
		t.Errorf("theme %q after the failed migration", v)
	}
}

// TestOpen_Busy ensures a process that finds the library held gives up after the timeout, naming
// the holder's pid and command, instead of hanging.
func TestOpen_Busy(t *testing.T) {
	dir := t.TempDir()
	holder, err := Open(dir, &Options{KeepOpen: true, Holder: "qlora-studio (test)"})
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	start := time.Now()
	_, err = Open(dir, &Options{Timeout: 200 * time.Millisecond})
	waited := time.Since(start)
	var busy *BusyError
	if !errors.As(err, &busy) || !errors.Is(err, ErrBusy) {
		t.Fatalf("error %v", err)
	}
	if busy.Holder == nil || busy.Holder.PID != os.Getpid() || !strings.Contains(err.Error(), "qlora-studio (test)") {
		t.Errorf("message: %v", err)
	}
	if waited > 5*time.Second {
		t.Errorf("waited %v", waited) // a hang guard, not a timing assertion
	}
	holder.Close()
	l, err := Open(dir, &Options{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("after the holder closed: %v", err)
	}
	l.Close()
}

// TestLibrary_Closed ensures a closed library refuses work instead of reopening the database.
func TestLibrary_Closed(t *testing.T) {
	for _, keep := range []bool{false, true} {
		l := openTemp(t, &Options{KeepOpen: keep})
		l.Close()
		_, err := l.Models()
		wantErr(t, err, ErrClosed)
	}
}

// TestDefaultDir ensures QLORA_LIBRARY wins over XDG_DATA_HOME, which wins over the home folder.
func TestDefaultDir(t *testing.T) {
	t.Setenv("QLORA_LIBRARY", "/lib/q")
	t.Setenv("XDG_DATA_HOME", "/xdg")
	if d, _ := DefaultDir(); d != "/lib/q" {
		t.Errorf("%s", d)
	}
	t.Setenv("QLORA_LIBRARY", "")
	if d, _ := DefaultDir(); d != "/xdg/qlora-studio" {
		t.Errorf("%s", d)
	}
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("HOME", "/home/u")
	if d, _ := DefaultDir(); d != "/home/u/.local/share/qlora-studio" {
		t.Errorf("%s", d)
	}
}

// TestCheckName ensures names that could be mistaken for paths, or print badly, are refused.
func TestCheckName(t *testing.T) {
	for _, ok := range []string{"llama-3-8b", "Llama 3 (8B)", "données", "a.b_c"} {
		if err := checkName("model", ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", `a\b`, " a", "a ", "a\tb", "a\x00", strings.Repeat("x", 101), "\xff"} {
		if err := checkName("model", bad); !errors.Is(err, ErrInvalidName) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// TestLibrary_Settings ensures settings round-trip, including an empty value, and can be deleted.
func TestLibrary_Settings(t *testing.T) {
	l := openTemp(t, nil)
	l.SetSetting("theme", "dark")
	l.SetSetting("empty", "")
	if v, ok, err := l.Setting("theme"); v != "dark" || !ok || err != nil {
		t.Errorf("theme %q %v %v", v, ok, err)
	}
	if v, ok, _ := l.Setting("empty"); v != "" || !ok {
		t.Errorf("empty %q %v", v, ok)
	}
	if _, ok, _ := l.Setting("missing"); ok {
		t.Error("missing is set")
	}
	l.DeleteSetting("theme")
	all, _ := l.Settings()
	if len(all) != 1 {
		t.Errorf("settings %v", all)
	}
}

// TestLibrary_Presets ensures user presets are saved, replaced, listed and deleted, and that YAML
// that is not a mapping is refused.
func TestLibrary_Presets(t *testing.T) {
	l := openTemp(t, nil)
	if err := l.SavePreset(Preset{Name: "mine", Title: "Mine", YAML: "lora_r: 8\n"}); err != nil {
		t.Fatal(err)
	}
	l.SavePreset(Preset{Name: "mine", Title: "Mine", YAML: "lora_r: 16\n"})
	if err := l.SavePreset(Preset{Name: "bad", YAML: "- a list\n"}); err == nil {
		t.Error("a list was accepted")
	}
	p, err := l.Preset("mine")
	if err != nil || p.YAML != "lora_r: 16\n" {
		t.Errorf("%+v %v", p, err)
	}
	ps, _ := l.Presets()
	if len(ps) != 1 {
		t.Errorf("%d presets", len(ps))
	}
	wantErr(t, l.DeletePreset("nope"), ErrNotFound)
	l.DeletePreset("mine")
	_, err = l.Preset("mine")
	wantErr(t, err, ErrNotFound)
}

// writeRaw writes a bbolt file by hand, as an older or foreign program would have.
func writeRaw(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o644, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	db.Close()
}

// rawVersion reads the schema version of a library file.
func rawVersion(t *testing.T, path string) string {
	t.Helper()
	db, err := bolt.Open(path, 0o644, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v string
	db.View(func(tx *bolt.Tx) error {
		v = string(tx.Bucket(bucketMeta).Get(keySchema))
		return nil
	})
	return v
}

package storage

import (
	"errors"
	"testing"
	"time"
)

// TestLibrary_Lend ensures a library held open lets another opener in while it lends the
// database, goes on working meanwhile, sees what the other wrote, and holds the database again
// afterwards so that the next opener finds it busy.
func TestLibrary_Lend(t *testing.T) {
	held := openTemp(t, &Options{KeepOpen: true})
	if _, err := Open(held.Dir(), &Options{Timeout: 50 * time.Millisecond}); !errors.Is(err, ErrBusy) {
		t.Fatalf("before lending, another open: %v; want busy", err)
	}
	err := held.Lend(func() error {
		other, err := Open(held.Dir(), nil)
		if err != nil {
			return err
		}
		defer other.Close()
		if err := other.SetSetting("written-by", "the other process"); err != nil {
			return err
		}
		return held.SetSetting("written-meanwhile", "yes")
	})
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"written-by": "the other process", "written-meanwhile": "yes"} {
		if v, ok, err := held.Setting(key); err != nil || !ok || v != want {
			t.Errorf("setting %s = %q %v %v, want %q", key, v, ok, err, want)
		}
	}
	if _, err := Open(held.Dir(), &Options{Timeout: 50 * time.Millisecond}); !errors.Is(err, ErrBusy) {
		t.Errorf("after lending, another open: %v; want busy", err)
	}
}

// TestLibrary_Lend_Closed ensures a closed library lends nothing and runs nothing.
func TestLibrary_Lend_Closed(t *testing.T) {
	l := openTemp(t, &Options{KeepOpen: true})
	l.Close()
	ran := false
	if err := l.Lend(func() error { ran = true; return nil }); !errors.Is(err, ErrClosed) || ran {
		t.Errorf("Lend on a closed library: %v, ran %v", err, ran)
	}
	if _, _, err := l.Setting("x"); !errors.Is(err, ErrClosed) {
		t.Errorf("Setting on a closed library: %v", err)
	}
}

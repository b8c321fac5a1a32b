package app

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"

	"fyne.io/fyne/v2"

	"github.com/qlora-studio/qlora-studio/ui"
)

// tourEnv, set to 1, makes the app show each screen in turn for scripts/screenshots.sh, which
// takes the pictures (the window's own capture reads back nothing under Xvfb's software GL).
const tourEnv = "QLORA_TOUR"

// settle is how long a screen gets to load what it shows (the library's lists, in the
// background) before it is announced.
const settle = 2 * time.Second

// tour shows each screen, writes "screen NAME" (the tab's title in lower case) on out once it has
// settled, and goes on when a line comes on in; after the last screen, or when in closes, it
// quits the app. It runs on its own goroutine.
func tour(a fyne.App, main *ui.Main, in io.Reader, out io.Writer) error {
	defer fyne.Do(a.Quit)
	next := bufio.NewScanner(in)
	time.Sleep(settle) // the window's first frame
	for _, tab := range main.Tabs.Items {
		fyne.DoAndWait(func() { main.Show(tab.Text) })
		time.Sleep(settle)
		if _, err := fmt.Fprintf(out, "screen %s\n", strings.ToLower(tab.Text)); err != nil {
			return err
		}
		if !next.Scan() {
			return next.Err()
		}
	}
	return nil
}

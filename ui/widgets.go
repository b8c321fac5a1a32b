package ui

import (
	"errors"
	"fmt"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/widget"

	"github.com/qlora-studio/qlora-studio/storage"
)

// field is one row of a details panel.
type field struct{ key, value string }

// fieldGrid lays fields out as a two-column form: the name in bold, the value selectable, cut
// short with an ellipsis where the panel is too narrow (wrapped labels would make a form's rows
// as tall as their narrowest layout).
func fieldGrid(fields []field) fyne.CanvasObject {
	grid := container.New(layout.NewFormLayout())
	for _, f := range fields {
		key := widget.NewLabelWithStyle(f.key, fyne.TextAlignTrailing, fyne.TextStyle{Bold: true})
		value := widget.NewLabel(f.value)
		value.Truncation = fyne.TextTruncateEllipsis
		value.Selectable = true
		grid.Add(key)
		grid.Add(value)
	}
	return grid
}

// placeholder is the grey text shown where a panel has nothing to show yet.
func placeholder(text string) *widget.Label {
	l := widget.NewLabel(text)
	l.Importance = widget.LowImportance
	l.Wrapping = fyne.TextWrapWord
	l.Alignment = fyne.TextAlignCenter
	return l
}

// showRemoveError explains why a removal failed: the library's refusal when runs use the record,
// with the runs named, or the error itself.
func showRemoveError(err error, win fyne.Window) {
	var inUse *storage.InUseError
	if errors.As(err, &inUse) {
		dialog.ShowInformation(fmt.Sprintf("%q is in use", inUse.Name),
			fmt.Sprintf("The %s %q is used by %d %s: %s.\nDelete %s first; then the %s can go.",
				inUse.Kind, inUse.Name, len(inUse.Runs), plural(len(inUse.Runs), "run", "runs"), joinNames(inUse.Runs),
				plural(len(inUse.Runs), "that run", "those runs"), inUse.Kind), win)
		return
	}
	dialog.ShowError(err, win)
}

// enable enables or disables a button.
func enable(b *widget.Button, on bool) {
	if on {
		b.Enable()
	} else {
		b.Disable()
	}
}

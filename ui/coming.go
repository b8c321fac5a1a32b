package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"
)

// Coming is the stand-in for a screen not built yet: what it will do, and that it is coming.
type Coming struct {
	content fyne.CanvasObject
}

// NewComing says what the screen titled title will do.
func NewComing(title, what string) *Coming {
	head := widget.NewLabelWithStyle(title+": coming", fyne.TextAlignCenter, fyne.TextStyle{Bold: true})
	body := placeholder(what)
	return &Coming{content: container.NewCenter(container.NewGridWrap(fyne.NewSize(520, 160), container.NewVBox(head, body)))}
}

// Content is the screen's widget tree.
func (c *Coming) Content() fyne.CanvasObject { return c.content }

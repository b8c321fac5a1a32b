package ui

import (
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"
)

// Colours the app adds to Fyne's theme, each chosen per variant to read well on its background.
const (
	// ColorNameTrained marks the tokens a sample trains on in the dataset preview.
	ColorNameTrained fyne.ThemeColorName = "qlora-trained"
	// ColorNameTruncated marks what max_seq_length cuts off: the histogram's bin beyond it.
	ColorNameTruncated fyne.ThemeColorName = "qlora-truncated"
)

// The theme choices a person can make; ThemeSystem follows the desktop's light or dark setting.
const (
	ThemeSystem = "System"
	ThemeLight  = "Light"
	ThemeDark   = "Dark"
)

// ThemeChoices lists the choices in menu order.
var ThemeChoices = []string{ThemeSystem, ThemeLight, ThemeDark}

// appTheme is Fyne's default theme with the app's colours, and optionally one variant forced.
type appTheme struct {
	forced  bool
	variant fyne.ThemeVariant
}

// NewTheme is the app's theme for a choice (ThemeSystem, ThemeLight or ThemeDark).
func NewTheme(choice string) fyne.Theme {
	switch choice {
	case ThemeLight:
		return &appTheme{forced: true, variant: theme.VariantLight}
	case ThemeDark:
		return &appTheme{forced: true, variant: theme.VariantDark}
	}
	return &appTheme{}
}

// Color implements fyne.Theme.
func (t *appTheme) Color(name fyne.ThemeColorName, v fyne.ThemeVariant) color.Color {
	if t.forced {
		v = t.variant
	}
	dark := v == theme.VariantDark
	switch name {
	case ColorNameTrained:
		if dark {
			return color.NRGBA{0x86, 0xef, 0xac, 0xff} // light green on the dark background
		}
		return color.NRGBA{0x15, 0x6b, 0x34, 0xff} // dark green on white
	case ColorNameTruncated:
		if dark {
			return color.NRGBA{0xfc, 0xa5, 0xa5, 0xff}
		}
		return color.NRGBA{0xb9, 0x1c, 0x1c, 0xff}
	}
	return theme.DefaultTheme().Color(name, v)
}

// Font implements fyne.Theme.
func (t *appTheme) Font(s fyne.TextStyle) fyne.Resource { return theme.DefaultTheme().Font(s) }

// Icon implements fyne.Theme.
func (t *appTheme) Icon(n fyne.ThemeIconName) fyne.Resource { return theme.DefaultTheme().Icon(n) }

// Size implements fyne.Theme.
func (t *appTheme) Size(n fyne.ThemeSizeName) float32 { return theme.DefaultTheme().Size(n) }

// themeColor is a colour of the app's current theme in its current variant, for drawings (the
// histogram) that Fyne does not colour itself. A theme that lacks the app's own colours (another
// app theme, a test theme) gets them from the app theme in the same variant.
func themeColor(name fyne.ThemeColorName) color.Color {
	s := fyne.CurrentApp().Settings()
	if _, ours := s.Theme().(*appTheme); !ours && (name == ColorNameTrained || name == ColorNameTruncated) {
		return NewTheme(ThemeSystem).Color(name, s.ThemeVariant())
	}
	return s.Theme().Color(name, s.ThemeVariant())
}

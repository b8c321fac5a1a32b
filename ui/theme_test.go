package ui_test

import (
	"image/color"
	"math"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"

	"github.com/qlora-studio/qlora-studio/ui"
)

// contrast is the WCAG contrast ratio of two colours, from 1 (none) to 21 (black on white).
func contrast(a, b color.Color) float64 {
	lum := func(c color.Color) float64 {
		n := color.NRGBAModel.Convert(c).(color.NRGBA)
		ch := func(v uint8) float64 {
			s := float64(v) / 255
			if s <= 0.03928 {
				return s / 12.92
			}
			return math.Pow((s+0.055)/1.055, 2.4)
		}
		return 0.2126*ch(n.R) + 0.7152*ch(n.G) + 0.0722*ch(n.B)
	}
	la, lb := lum(a), lum(b)
	return (math.Max(la, lb) + 0.05) / (math.Min(la, lb) + 0.05)
}

// TestTheme_Readable ensures the text and the app's own colours read on the background in the
// light and the dark theme alike: the trained-on text of the preview as body text (WCAG AA, 4.5),
// the truncated bin and the bars as graphics (3).
func TestTheme_Readable(t *testing.T) {
	for _, choice := range []string{ui.ThemeLight, ui.ThemeDark} {
		th := ui.NewTheme(choice)
		// A forced variant wins over the one the system asks for.
		for _, asked := range []fyne.ThemeVariant{theme.VariantLight, theme.VariantDark} {
			bg := th.Color(theme.ColorNameBackground, asked)
			for _, c := range []struct {
				name fyne.ThemeColorName
				min  float64
			}{
				{theme.ColorNameForeground, 7},
				{ui.ColorNameTrained, 4.5},
				{ui.ColorNameTruncated, 3},
				{theme.ColorNamePrimary, 3},
			} {
				if got := contrast(th.Color(c.name, asked), bg); got < c.min {
					t.Errorf("%s theme: %s on the background has contrast %.2f, want %.1f or more", choice, c.name, got, c.min)
				}
			}
		}
	}
	light := ui.NewTheme(ui.ThemeLight).Color(theme.ColorNameBackground, theme.VariantDark)
	dark := ui.NewTheme(ui.ThemeDark).Color(theme.ColorNameBackground, theme.VariantLight)
	if contrast(light, dark) < 10 {
		t.Errorf("the light and the dark theme have backgrounds %v and %v", light, dark)
	}
}

// Command icon draws the app icon, assets/icon.png: a rounded square in the app's blue with a
// falling loss curve over a grid of sixteen cells (the sixteen levels of a 4-bit weight).
//
//	go run ./scripts/icon -out assets/icon.png
package main

import (
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
)

const (
	size = 512 // pixels of the written icon
	ss   = 4   // samples per pixel along each axis, for smooth edges
)

var (
	top    = color.NRGBA{0x1e, 0x3a, 0x8a, 0xff} // gradient, top
	bottom = color.NRGBA{0x0f, 0x76, 0x6e, 0xff} // gradient, bottom
	cell   = color.NRGBA{0xff, 0xff, 0xff, 0x26}
	curve  = color.NRGBA{0xfd, 0xe0, 0x47, 0xff}
)

func main() {
	out := flag.String("out", "assets/icon.png", "the PNG to write")
	flag.Parse()
	f, err := os.Create(*out)
	if err == nil {
		err = png.Encode(f, draw())
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "icon:", err)
		os.Exit(1)
	}
}

// draw renders the icon, averaging ss×ss samples per pixel.
func draw() *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	for py := range size {
		for px := range size {
			var r, g, b, a float64
			for sy := range ss {
				for sx := range ss {
					x := (float64(px) + (float64(sx)+0.5)/ss) / size
					y := (float64(py) + (float64(sy)+0.5)/ss) / size
					c := sample(x, y)
					af := float64(c.A) / 255
					r, g, b, a = r+float64(c.R)*af, g+float64(c.G)*af, b+float64(c.B)*af, a+af
				}
			}
			if a == 0 {
				continue
			}
			img.SetNRGBA(px, py, color.NRGBA{uint8(r / a), uint8(g / a), uint8(b / a), uint8(255 * a / (ss * ss))})
		}
	}
	return img
}

// sample is the colour at (x, y) in [0,1]², y down.
func sample(x, y float64) color.NRGBA {
	if !insideRounded(x, y, 0.04, 0.2) {
		return color.NRGBA{}
	}
	c := mix(top, bottom, y)
	// A 4×4 grid of cells behind the curve: the sixteen NF4 levels.
	const x0, y0, step, gap = 0.22, 0.22, 0.14, 0.025
	gx, gy := (x-x0)/step, (y-y0)/step
	if gx >= 0 && gy >= 0 && gx < 4 && gy < 4 {
		fx, fy := gx-math.Floor(gx), gy-math.Floor(gy)
		if fx > gap/step && fy > gap/step {
			c = over(c, cell)
		}
	}
	// The loss: falling fast, then flattening, as a fine-tune does.
	e := math.Exp(-(x - 0.16) * 5.5)
	ly, slope := 0.8-0.58*e, 0.58*5.5*e
	if x > 0.17 && x < 0.84 && math.Abs(y-ly)/math.Hypot(1, slope) < 0.03 {
		c = curve
	}
	return c
}

// insideRounded says whether (x, y) is inside a square inset by margin with corners of radius r.
func insideRounded(x, y, margin, r float64) bool {
	lo, hi := margin+r, 1-margin-r
	dx := math.Max(0, math.Max(lo-x, x-hi))
	dy := math.Max(0, math.Max(lo-y, y-hi))
	if x < margin || x > 1-margin || y < margin || y > 1-margin {
		return false
	}
	return dx*dx+dy*dy <= r*r
}

func mix(a, b color.NRGBA, t float64) color.NRGBA {
	l := func(p, q uint8) uint8 { return uint8(float64(p) + (float64(q)-float64(p))*t) }
	return color.NRGBA{l(a.R, b.R), l(a.G, b.G), l(a.B, b.B), 0xff}
}

// over composes src over an opaque dst.
func over(dst, src color.NRGBA) color.NRGBA {
	t := float64(src.A) / 255
	c := mix(dst, color.NRGBA{src.R, src.G, src.B, 0xff}, t)
	return c
}

// Package blank judges whether a scanned page is blank: the back of a
// single-sided letter run through a duplex scanner. Scanner noise, dust and
// the print of the front showing through thin paper must not count as
// content, while a page with one handwritten line must.
//
// The page is averaged into cells of about a third of a millimetre (which
// wipes out single-pixel noise), the paper's own level is taken from the
// histogram, and a cell counts as ink when it is clearly darker than the
// paper: show-through is only a few shades darker.
package blank

import (
	"errors"
	"image"
)

// Options tune the judgement.
type Options struct {
	// Threshold is the fraction of the page (0..1) that must be ink for the
	// page to count as not blank. 0 turns detection off (nothing is blank).
	Threshold float64
	// Contrast is how many grey levels (of 255) below the paper a cell must
	// be to count as ink; show-through stays above it.
	Contrast int
	// Margin is the fraction of width and height ignored at each edge,
	// where sheet edges and feeder shadows show.
	Margin float64
}

// DefaultOptions suit office paper scanned at 150 to 600 dpi.
func DefaultOptions() Options {
	return Options{Threshold: 0.0005, Contrast: 80, Margin: 0.04}
}

// Result is the judgement of one page.
type Result struct {
	// Ink is the fraction of the examined area judged as ink.
	Ink   float64
	Blank bool
}

// ErrBadInput is returned for an image or options Analyse cannot use.
var ErrBadInput = errors.New("blank: bad input")

// Analyse judges the greyscale page g scanned at dpi.
func Analyse(g *image.Gray, dpi int, opt Options) (Result, error) {
	if g == nil || dpi < 50 || dpi > 2400 || opt.Threshold < 0 || opt.Threshold > 1 ||
		opt.Margin < 0 || opt.Margin >= 0.5 || opt.Contrast < 1 || opt.Contrast > 255 {
		return Result{}, ErrBadInput
	}
	cell := max(1, dpi/75) // 1/75 inch, about a third of a millimetre
	mx := int(float64(g.Rect.Dx()) * opt.Margin)
	my := int(float64(g.Rect.Dy()) * opt.Margin)
	cw := (g.Rect.Dx() - 2*mx) / cell
	ch := (g.Rect.Dy() - 2*my) / cell
	if cw < 4 || ch < 4 {
		return Result{}, ErrBadInput
	}
	means := make([]uint8, cw*ch)
	sums := make([]int, cw)
	area := cell * cell
	for cy := 0; cy < ch; cy++ {
		clear(sums)
		for y := my + cy*cell; y < my+(cy+1)*cell; y++ {
			row := g.Pix[y*g.Stride+mx : y*g.Stride+mx+cw*cell]
			for cx := 0; cx < cw; cx++ {
				s := 0
				for _, v := range row[cx*cell : (cx+1)*cell] {
					s += int(v)
				}
				sums[cx] += s
			}
		}
		for cx, s := range sums {
			means[cy*cw+cx] = uint8(s / area)
		}
	}
	var hist [256]int
	for _, v := range means {
		hist[v]++
	}
	// The paper level is the 80th percentile: brighter than any print and
	// show-through, yet robust against a few specular outliers.
	paper, acc := 0, 0
	for v := 0; v < 256; v++ {
		acc += hist[v]
		if acc*5 >= len(means)*4 {
			paper = v
			break
		}
	}
	limit := paper - opt.Contrast
	ink := 0
	for v := 0; v < limit && v < 256; v++ {
		ink += hist[v]
	}
	r := Result{Ink: float64(ink) / float64(len(means))}
	r.Blank = opt.Threshold > 0 && r.Ink < opt.Threshold
	return r, nil
}

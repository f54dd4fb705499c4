// Package testpage draws realistic scanned pages for the tests and
// benchmarks of kiosk/document: off-white paper with sensor noise, lines of
// text-like glyphs, a Data Matrix and a Code 128 as job-centre letters carry
// them, and blank backs with faint show-through. Nothing here is used by the
// kiosk itself.
package testpage

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/datamatrix"
	"github.com/makiuchi-d/gozxing/datamatrix/encoder"
	"github.com/makiuchi-d/gozxing/oned"
)

// A4 returns the pixel size of an A4 page at dpi.
func A4(dpi int) (w, h int) {
	return int(8.2677*float64(dpi) + 0.5), int(11.6929*float64(dpi) + 0.5)
}

// Paper returns an A4 page of off-white paper with sensor noise.
func Paper(dpi int, seed uint64) *image.Gray {
	w, h := A4(dpi)
	g := image.NewGray(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(seed, 17))
	for i := range g.Pix {
		g.Pix[i] = uint8(238 + r.IntN(12))
	}
	return g
}

// Specks scatters n dark specks of one to two pixels, as dust and sensor
// noise leave on a blank back.
func Specks(g *image.Gray, n int, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 5))
	w, h := g.Rect.Dx(), g.Rect.Dy()
	for i := 0; i < n; i++ {
		x, y := r.IntN(w-2), r.IntN(h-2)
		s := 1 + r.IntN(2)
		fill(g, x, y, s, s, uint8(40+r.IntN(80)))
	}
}

// ShowThrough draws faint grey text lines, as the print on the other side
// of thin paper shows through.
func ShowThrough(g *image.Gray, dpi int, seed uint64) {
	textLines(g, dpi, seed, 12, 205)
}

// Text draws lines of dark glyph-like marks over the body of the page.
func Text(g *image.Gray, dpi int, seed uint64, lines int) {
	textLines(g, dpi, seed, lines, 30)
}

func textLines(g *image.Gray, dpi int, seed uint64, lines int, level uint8) {
	r := rand.New(rand.NewPCG(seed, 9))
	mm := float64(dpi) / 25.4
	gw, gh := int(2.0*mm), int(2.6*mm) // glyph cell
	stroke := max(1, int(0.3*mm))
	x0, x1 := int(25*mm), g.Rect.Dx()-int(20*mm)
	y := int(100 * mm)
	for l := 0; l < lines && y+gh < g.Rect.Dy()-int(20*mm); l++ {
		x := x0
		for x+gw < x1 {
			word := 2 + r.IntN(9)
			for c := 0; c < word && x+gw < x1; c++ {
				// A glyph: a few strokes inside its cell.
				for s := 0; s < 3; s++ {
					if r.IntN(2) == 0 {
						fill(g, x+r.IntN(gw-stroke), y, stroke, gh, level)
					} else {
						fill(g, x, y+r.IntN(gh-stroke), gw-stroke, stroke, level)
					}
				}
				x += gw + int(0.4*mm)
			}
			x += int(2.5 * mm)
		}
		y += int(5 * mm)
	}
}

func fill(g *image.Gray, x, y, w, h int, v uint8) {
	for yy := max(y, 0); yy < min(y+h, g.Rect.Dy()); yy++ {
		for xx := max(x, 0); xx < min(x+w, g.Rect.Dx()); xx++ {
			g.Pix[yy*g.Stride+xx] = v
		}
	}
}

// DataMatrix draws a Data Matrix code of text with its top-left corner at
// (x, y), each module modulePx pixels wide.
func DataMatrix(g *image.Gray, text string, x, y, modulePx int) error {
	// Letters carry square symbols; the writer would pick a rectangle for
	// some lengths.
	hints := map[gozxing.EncodeHintType]interface{}{gozxing.EncodeHintType_DATA_MATRIX_SHAPE: encoder.SymbolShapeHint_FORCE_SQUARE}
	m, err := datamatrix.NewDataMatrixWriter().Encode(text, gozxing.BarcodeFormat_DATA_MATRIX, 0, 0, hints)
	if err != nil {
		return fmt.Errorf("testpage: data matrix: %w", err)
	}
	// The quiet zone: four modules of bare paper around the symbol.
	q := 4 * modulePx
	fill(g, x-q, y-q, m.GetWidth()*modulePx+2*q, m.GetHeight()*modulePx+2*q, 245)
	for my := 0; my < m.GetHeight(); my++ {
		for mx := 0; mx < m.GetWidth(); mx++ {
			v := uint8(245)
			if m.Get(mx, my) {
				v = 25
			}
			fill(g, x+mx*modulePx, y+my*modulePx, modulePx, modulePx, v)
		}
	}
	return nil
}

// Code128 draws a Code 128 bar code of text at (x, y), the narrowest bar
// barPx pixels wide and the bars h pixels high.
func Code128(g *image.Gray, text string, x, y, barPx, h int) error {
	m, err := oned.NewCode128Writer().Encode(text, gozxing.BarcodeFormat_CODE_128, 0, 0, nil)
	if err != nil {
		return fmt.Errorf("testpage: code 128: %w", err)
	}
	for mx := 0; mx < m.GetWidth(); mx++ {
		if m.Get(mx, 0) {
			fill(g, x+mx*barPx, y, barPx, h, 25)
		}
	}
	return nil
}

// Letter returns a job-centre letter: a Data Matrix with code top right, a
// Code 128 under the address field when with128 is set, and text lines.
func Letter(dpi int, code string, with128 bool, seed uint64) (*image.Gray, error) {
	g := Paper(dpi, seed)
	mm := float64(dpi) / 25.4
	module := max(2, int(0.5*mm+0.5))
	if err := DataMatrix(g, code, g.Rect.Dx()-int(40*mm), int(15*mm), module); err != nil {
		return nil, err
	}
	if with128 {
		if err := Code128(g, code, int(25*mm), int(70*mm), max(2, int(0.3*mm+0.5)), int(10*mm)); err != nil {
			return nil, err
		}
	}
	Text(g, dpi, seed, 30)
	Specks(g, 200, seed)
	return g, nil
}

// BlankBack returns the back of a sheet: paper, noise, specks and faint
// show-through of the front's print.
func BlankBack(dpi int, seed uint64) *image.Gray {
	g := Paper(dpi, seed)
	ShowThrough(g, dpi, seed)
	Specks(g, 300, seed)
	return g
}

// JPEG encodes g as a colour JPEG (a faint warm tint, as scanners deliver
// paper) when colour is set, else as a greyscale JPEG, with JFIF density dpi.
func JPEG(g *image.Gray, colour bool, quality int) ([]byte, error) {
	var img image.Image = g
	if colour {
		c := image.NewYCbCr(g.Rect, image.YCbCrSubsampleRatio420)
		copy(c.Y, g.Pix)
		for i := range c.Cb {
			c.Cb[i] = 126
			c.Cr[i] = 130
		}
		img = c
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: quality}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// BilevelPNG thresholds g at 128 and encodes it as a 1-bit PNG, as scanners
// in black-and-white mode deliver pages.
func BilevelPNG(g *image.Gray) ([]byte, error) {
	p := image.NewPaletted(g.Rect, color.Palette{color.Gray{0}, color.Gray{255}})
	for i, v := range g.Pix {
		if v >= 128 {
			p.Pix[i] = 1
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, p); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Rotate returns g turned by deg degrees about its centre (nearest
// neighbour, paper-white where nothing maps), as a sheet fed askew looks.
func Rotate(g *image.Gray, deg float64) *image.Gray {
	out := image.NewGray(g.Rect)
	s, c := math.Sincos(deg * math.Pi / 180)
	w, h := g.Rect.Dx(), g.Rect.Dy()
	cx, cy := float64(w)/2, float64(h)/2
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			dx, dy := float64(x)-cx, float64(y)-cy
			sx := int(math.Round(c*dx + s*dy + cx))
			sy := int(math.Round(-s*dx + c*dy + cy))
			v := uint8(243)
			if sx >= 0 && sy >= 0 && sx < w && sy < h {
				v = g.Pix[sy*g.Stride+sx]
			}
			out.Pix[y*out.Stride+x] = v
		}
	}
	return out
}

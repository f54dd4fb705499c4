// Package codes finds the barcodes job-centre letters carry (a Data Matrix
// code, some also a Code 128) on a scanned page.
//
// Rather than feeding whole pages to the decoders (ZXing's Data Matrix
// detector looks for a code around the centre of its image and gets lost in
// text), the page is cut into 1 mm cells; connected blocks of inked cells
// whose shape and fill look like a 2D code or a bar code become candidates,
// and only those crops are decoded. A page costs a few milliseconds.
package codes

import (
	"context"
	"errors"
	"image"
	"sort"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/datamatrix"
	"github.com/makiuchi-d/gozxing/oned"
)

// Symbologies reported in Code.Symbology.
const (
	DataMatrix = "DataMatrix"
	Code128    = "Code128"
)

// Code is one barcode found on a page. Text is the raw content; whether it
// is a customer number is for kiosk/ident to decide.
type Code struct {
	Symbology string
	Text      string
}

// Limits on how many candidate regions are decoded per page, so a page
// full of dense print cannot take long.
const (
	max2D = 24
	max1D = 8
)

// ErrBadImage is returned for an image Detect cannot work on.
var ErrBadImage = errors.New("codes: bad image")

// Detect returns the Data Matrix and Code 128 codes found on g, a greyscale
// page scanned at dpi dots per inch, each distinct code once, largest
// region first.
func Detect(ctx context.Context, g *image.Gray, dpi int) ([]Code, error) {
	if g == nil || g.Rect.Dx() < 8 || g.Rect.Dy() < 8 || dpi < 50 || dpi > 2400 {
		return nil, ErrBadImage
	}
	// Work at about 150 dpi: Data Matrix modules on letters are 0.4 mm or
	// more, still 2.4 px there, and a quarter of the pixels to look at.
	work, denom := g, 1
	if dpi >= 240 {
		work, denom = Halve(g), 2
	}
	full := func(r image.Rectangle) *image.Gray {
		return g.SubImage(r.Add(g.Rect.Min)).(*image.Gray)
	}
	return DetectScaled(ctx, work, denom, dpi, full)
}

// DetectScaled is Detect for a page at hand in two scales: work, the page
// at 1/denom of its dpi (origin 0,0), where candidates are looked for, and
// full, which returns a rectangle of the page at full resolution (in
// full-resolution coordinates from 0,0), where thin bars and small modules
// are decoded. A decoder that can render parts of the page (kiosk/document's
// JPEG path) then never draws the whole page at full resolution.
func DetectScaled(ctx context.Context, work *image.Gray, denom, dpi int, full func(image.Rectangle) *image.Gray) ([]Code, error) {
	if work == nil || work.Rect.Dx() < 8 || work.Rect.Dy() < 8 || dpi < 50 || dpi > 2400 || denom < 1 || denom > 8 || work.Rect.Min != (image.Point{}) {
		return nil, ErrBadImage
	}
	wdpi := dpi / denom
	cands := candidates(work, wdpi)
	var found []Code
	seen := map[Code]bool{}
	add := func(c Code) {
		if !seen[c] {
			seen[c] = true
			found = append(found, c)
		}
	}
	dm := datamatrix.NewDataMatrixReader()
	c128 := oned.NewCode128Reader()
	n2, n1 := 0, 0
	for _, c := range cands {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		fr := image.Rect(c.r.Min.X*denom, c.r.Min.Y*denom, c.r.Max.X*denom, c.r.Max.Y*denom)
		if c.try2D && n2 < max2D {
			n2++
			txt, ok := decode(dm, work, c.r, nil)
			if !ok && denom > 1 {
				// Small modules may not survive the reduction; retry at
				// full resolution.
				g := full(fr)
				txt, ok = decode(dm, g, g.Rect, nil)
			}
			if ok {
				add(Code{DataMatrix, txt})
				continue
			}
		}
		if c.try1D && n1 < max1D {
			n1++
			// Bars are too thin for the reduced image; decode at full size.
			g := work
			r := c.r
			if denom > 1 {
				g = full(fr)
				r = g.Rect
			}
			hints := map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_TRY_HARDER: true}
			if txt, ok := decode(c128, g, r, hints); ok {
				add(Code{Code128, txt})
			}
		}
	}
	return found, nil
}

// decode runs reader on the crop r of g (r in g's coordinates).
func decode(reader gozxing.Reader, g *image.Gray, r image.Rectangle, hints map[gozxing.DecodeHintType]interface{}) (string, bool) {
	r = r.Intersect(g.Rect)
	if r.Dx() < 8 || r.Dy() < 8 {
		return "", false
	}
	// The luminance source reads straight from g's pixels: no copy.
	rows := len(g.Pix) / g.Stride
	src, err := gozxing.NewPlanarYUVLuminanceSource(g.Pix, g.Stride, rows,
		r.Min.X-g.Rect.Min.X, r.Min.Y-g.Rect.Min.Y, r.Dx(), r.Dy(), false)
	if err != nil {
		return "", false
	}
	bmp, err := gozxing.NewBinaryBitmap(gozxing.NewHybridBinarizer(src))
	if err != nil {
		return "", false
	}
	res, err := reader.Decode(bmp, hints)
	if err != nil || res.GetText() == "" {
		return "", false
	}
	return res.GetText(), true
}

// Halve returns g scaled to half size by averaging 2x2 blocks, with its
// origin at 0,0.
func Halve(g *image.Gray) *image.Gray {
	w, h := g.Rect.Dx()/2, g.Rect.Dy()/2
	out := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		r0 := g.Pix[(2*y)*g.Stride:]
		r1 := g.Pix[(2*y+1)*g.Stride:]
		o := out.Pix[y*out.Stride:]
		for x := 0; x < w; x++ {
			o[x] = uint8((int(r0[2*x]) + int(r0[2*x+1]) + int(r1[2*x]) + int(r1[2*x+1]) + 2) >> 2)
		}
	}
	return out
}

type candidate struct {
	try2D, try1D bool
	r            image.Rectangle // in the work image's coordinates (origin 0,0)
	fill         float64
	area         int // in cells
}

// candidates finds regions that look like barcodes, as rectangles relative
// to g's top-left corner.
func candidates(g *image.Gray, dpi int) []candidate {
	cell := max(2, (dpi+12)/25) // about 1 mm
	cw, ch := g.Rect.Dx()/cell, g.Rect.Dy()/cell
	if cw == 0 || ch == 0 {
		return nil
	}
	ink := make([]bool, cw*ch)
	need := cell * cell / 10
	for cy := 0; cy < ch; cy++ {
		for cx := 0; cx < cw; cx++ {
			dark := 0
			for y := cy * cell; y < (cy+1)*cell; y++ {
				row := g.Pix[y*g.Stride+cx*cell : y*g.Stride+(cx+1)*cell]
				for _, v := range row {
					if v < 128 {
						dark++
					}
				}
			}
			ink[cy*cw+cx] = dark > need
		}
	}
	// Data Matrix candidates come from 8-connected blocks; bar codes from
	// blocks bridged across one empty cell column, since a wide space
	// inside a bar code can leave one, which must not split the code.
	out := components(ink, cw, ch, cell, g.Rect, 1, true)
	out = append(out, components(ink, cw, ch, cell, g.Rect, 2, false)...)
	// Largest first: codes are bigger solid blocks than words of text, and
	// the attempts per page are capped.
	sort.SliceStable(out, func(i, j int) bool { return out[i].area > out[j].area })
	return out
}

// components labels the connected blocks of inked cells, neighbours being
// up to reach cells apart sideways, and returns those shaped like a 2D code
// (twoD) or a bar code.
func components(ink []bool, cw, ch, cell int, bounds image.Rectangle, reach int, twoD bool) []candidate {
	label := make([]int32, cw*ch)
	var stack []int
	var out []candidate
	var next int32
	for start := range ink {
		if !ink[start] || label[start] != 0 {
			continue
		}
		next++
		label[start] = next
		stack = append(stack[:0], start)
		x0, y0, x1, y1 := cw, ch, -1, -1
		count := 0
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			count++
			x, y := i%cw, i/cw
			x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x), max(y1, y)
			for dy := -1; dy <= 1; dy++ {
				for dx := -reach; dx <= reach; dx++ {
					nx, ny := x+dx, y+dy
					if nx < 0 || ny < 0 || nx >= cw || ny >= ch {
						continue
					}
					j := ny*cw + nx
					if ink[j] && label[j] == 0 {
						label[j] = next
						stack = append(stack, j)
					}
				}
			}
		}
		w, h := x1-x0+1, y1-y0+1
		fill := float64(count) / float64(w*h)
		aspect := float64(w) / float64(h)
		// Data Matrix symbols are square or up to 1:4 rectangles of 4 to
		// 40 mm; a Code 128 is a wide block at least 4 mm high. Both are
		// nearly solid at 1 mm cells, text lines are not.
		var c candidate
		if twoD {
			c.try2D = w >= 4 && h >= 4 && w <= 40 && h <= 40 && aspect > 0.25 && aspect < 4.1
		} else {
			c.try1D = h >= 4 && h <= 40 && w >= 10 && aspect >= 1.5
		}
		if fill < 0.6 || !(c.try2D || c.try1D) {
			continue
		}
		// Quiet zone: two cells around the block.
		r := image.Rect((x0-2)*cell, (y0-2)*cell, (x1+3)*cell, (y1+3)*cell).Intersect(image.Rect(0, 0, bounds.Dx(), bounds.Dy()))
		c.r, c.fill, c.area = r, fill, w*h
		out = append(out, c)
	}
	return out
}

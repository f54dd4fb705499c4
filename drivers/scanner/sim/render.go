package sim

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"strconv"
	"sync"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/datamatrix"
	dmenc "github.com/makiuchi-d/gozxing/datamatrix/encoder"
)

// Page kinds the simulator draws.
const (
	kindCodeForm = "codeform" // first page: a form with the customer's code
	kindLetter   = "letter"   // a front page of a letter
	kindBack     = "back"     // a printed back side
	kindBlank    = "blank"    // an empty back: paper with scanner noise
)

// pageKey names one rendered page in the cache.
type pageKey struct {
	kind   string
	seed   int
	dpi    int
	mode   string
	format string
	code   string
	region Region // zero: the whole A4 sheet
}

// rendered is one encoded page.
type rendered struct {
	data   []byte
	format string
	w, h   int
}

// cache holds encoded pages, rendered once each: a 300 dpi colour page
// takes a good part of a second to draw and encode, and the simulator must
// not be what a benchmark measures.
type cache struct {
	quality int
	mu      sync.Mutex
	entries map[pageKey]*cacheEntry
}

type cacheEntry struct {
	once sync.Once
	r    rendered
	err  error
}

func newCache(quality int) *cache {
	return &cache{quality: quality, entries: map[pageKey]*cacheEntry{}}
}

func (c *cache) get(k pageKey) (rendered, error) {
	c.mu.Lock()
	e := c.entries[k]
	if e == nil {
		e = &cacheEntry{}
		c.entries[k] = e
	}
	c.mu.Unlock()
	e.once.Do(func() { e.r, e.err = render(k, c.quality) })
	return e.r, e.err
}

// a4Pixels is the size of an A4 page at dpi.
func a4Pixels(dpi int) (w, h int) {
	return (210*dpi*100/254 + 5) / 10, (297*dpi*100/254 + 5) / 10
}

// canvas draws on the luma plane of a page.
type canvas struct {
	g   *image.Gray
	dpi int
	rnd *rand.Rand
}

// mm converts millimetres to pixels.
func (c *canvas) mm(v float64) int { return int(v*float64(c.dpi)/25.4 + 0.5) }

func (c *canvas) fill(x0, y0, x1, y1 int, v uint8) {
	b := c.g.Rect
	x0, y0 = max(x0, b.Min.X), max(y0, b.Min.Y)
	x1, y1 = min(x1, b.Max.X), min(y1, b.Max.Y)
	for y := y0; y < y1; y++ {
		row := c.g.Pix[y*c.g.Stride+x0 : y*c.g.Stride+x1]
		for i := range row {
			row[i] = v
		}
	}
}

// box draws the outline of a rectangle given in millimetres.
func (c *canvas) box(x, y, w, h, line float64) {
	l := max(1, c.mm(line))
	x0, y0, x1, y1 := c.mm(x), c.mm(y), c.mm(x+w), c.mm(y+h)
	c.fill(x0, y0, x1, y0+l, 40)
	c.fill(x0, y1-l, x1, y1, 40)
	c.fill(x0, y0, x0+l, y1, 40)
	c.fill(x1-l, y0, x1, y1, 40)
}

// text draws a line of text-like glyphs from x to at most x+width (mm)
// with the baseline at y, in glyphs of height size. Glyphs are stems and
// bars, so the page compresses like printed text, not like solid blocks.
func (c *canvas) text(x, y, width, size float64, ink uint8) {
	px, end := c.mm(x), c.mm(x+width)
	base := c.mm(y)
	h := max(2, c.mm(size))
	stroke := max(1, h/7)
	for px < end {
		word := 2 + c.rnd.IntN(9)
		for i := 0; i < word && px < end; i++ {
			gw := max(2, h*(5+c.rnd.IntN(4))/10)
			top := base - h
			if c.rnd.IntN(4) == 0 { // ascender
				top = base - h*14/10
			}
			c.fill(px, top, px+stroke, base, ink)
			switch c.rnd.IntN(4) {
			case 0:
				c.fill(px, base-stroke, px+gw, base, ink)
				c.fill(px+gw-stroke, base-h, px+gw, base, ink)
			case 1:
				c.fill(px, base-h, px+gw, base-h+stroke, ink)
				c.fill(px, base-h/2, px+gw, base-h/2+stroke, ink)
			case 2:
				c.fill(px, base-h, px+gw, base-h+stroke, ink)
				c.fill(px+gw-stroke, base-h, px+gw, base, ink)
				c.fill(px, base-stroke, px+gw, base, ink)
			default:
				c.fill(px+gw-stroke, base-h, px+gw, base, ink)
			}
			px += gw + stroke*2
		}
		px += h * 7 / 10
	}
}

// paragraph draws lines of text with a ragged right edge.
func (c *canvas) paragraph(x, y, width float64, lines int) float64 {
	for i := 0; i < lines; i++ {
		w := width
		if i == lines-1 {
			w = width * (0.3 + 0.5*c.rnd.Float64())
		} else {
			w = width * (0.85 + 0.15*c.rnd.Float64())
		}
		c.text(x, y, w, 2.2, 30)
		y += 5
	}
	return y
}

// dataMatrix draws code as a Data Matrix symbol whose top right corner
// is at (right, top) in millimetres, with modules of at least 0.6 mm (and
// 3 pixels) so that a scanner imager and dmtxread find it easily.
func (c *canvas) dataMatrix(code string, right, top float64) error {
	hints := map[gozxing.EncodeHintType]any{gozxing.EncodeHintType_DATA_MATRIX_SHAPE: dmenc.SymbolShapeHint_FORCE_SQUARE}
	bm, err := datamatrix.NewDataMatrixWriter().Encode(code, gozxing.BarcodeFormat_DATA_MATRIX, 0, 0, hints)
	if err != nil {
		return fmt.Errorf("sim: data matrix: %w", err)
	}
	mod := max(3, c.mm(0.6))
	n := bm.GetWidth()
	x0 := c.mm(right) - n*mod
	y0 := c.mm(top)
	quiet := 2 * mod
	c.fill(x0-quiet, y0-quiet, x0+n*mod+quiet, y0+bm.GetHeight()*mod+quiet, 255)
	for y := 0; y < bm.GetHeight(); y++ {
		for x := 0; x < n; x++ {
			if bm.Get(x, y) {
				c.fill(x0+x*mod, y0+y*mod, x0+(x+1)*mod, y0+(y+1)*mod, 0)
			}
		}
	}
	return nil
}

// drawPage renders the luma plane of a page and returns, for colour pages,
// the rectangle of the coloured letterhead.
func drawPage(k pageKey) (*image.Gray, image.Rectangle, error) {
	w, h := a4Pixels(k.dpi)
	g := image.NewGray(image.Rect(0, 0, w, h))
	c := &canvas{g: g, dpi: k.dpi, rnd: rand.New(rand.NewPCG(uint64(k.seed), uint64(len(k.kind))))}
	if k.kind == kindBlank {
		// Scanner noise on white paper: a blank detector must cope with it.
		x := uint32(k.seed*2654435761 + 1)
		for i := range g.Pix {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			g.Pix[i] = 247 + uint8(x%5)
		}
		// A few specks of dust.
		for i := 0; i < 6; i++ {
			px, py := c.rnd.IntN(w), c.rnd.IntN(h)
			c.fill(px, py, px+2, py+2, 120)
		}
		return g, image.Rectangle{}, nil
	}
	c.fill(0, 0, w, h, 250)
	var head image.Rectangle
	switch k.kind {
	case kindCodeForm, kindLetter:
		// Letterhead: logo block and sender line.
		head = image.Rect(c.mm(20), c.mm(12), c.mm(60), c.mm(26))
		c.fill(head.Min.X, head.Min.Y, head.Max.X, head.Max.Y, 90)
		c.text(65, 20, 60, 3.2, 40)
		// Address window (DIN 5008 form B) and date line.
		y := c.paragraph(25, 55, 70, 5)
		c.text(125, 98, 45, 2.2, 30)
		// Subject in bold: the same glyphs twice, a little apart.
		seed := c.rnd.Uint64()
		for _, dx := range []float64{0, 0.25} {
			c.rnd = rand.New(rand.NewPCG(seed, 7))
			c.text(25+dx, y+14, 120, 3, 10)
		}
		y += 22
		if k.kind == kindCodeForm {
			if err := c.dataMatrix(k.code, 190, 12); err != nil {
				return nil, image.Rectangle{}, err
			}
			// Form: labelled fields in boxes, tick boxes, signature line.
			for row := 0; row < 7; row++ {
				c.text(25, y+4.5, 40, 2, 60)
				c.box(70, y, 115, 8, 0.3)
				c.text(72, y+6, 60+c.rnd.Float64()*40, 2.2, 20)
				y += 11
			}
			for row := 0; row < 4; row++ {
				c.box(25, y, 4, 4, 0.3)
				if c.rnd.IntN(2) == 0 {
					c.fill(c.mm(25.8), c.mm(y+0.8), c.mm(28.2), c.mm(y+3.2), 20)
				}
				c.text(32, y+3.5, 100+c.rnd.Float64()*40, 2.2, 30)
				y += 7
			}
			y = c.paragraph(25, y+6, 160, 6)
			c.fill(c.mm(25), c.mm(265), c.mm(95), c.mm(265.3)+1, 40)
			c.text(25, 271, 40, 2, 60)
		} else {
			y = c.paragraph(25, y, 160, 12)
			y = c.paragraph(25, y+5, 160, 10)
			c.paragraph(25, y+5, 160, 8)
		}
	case kindBack:
		y := c.paragraph(25, 25, 160, 14)
		y = c.paragraph(25, y+5, 160, 12)
		c.paragraph(25, y+5, 160, 10)
	default:
		return nil, image.Rectangle{}, fmt.Errorf("sim: unknown page kind %q", k.kind)
	}
	// Footer: page number.
	c.text(100, 287, 12, 2, 60)
	return g, head, nil
}

// render draws and encodes one page.
func render(k pageKey, quality int) (rendered, error) {
	g, head, err := drawPage(k)
	if err != nil {
		return rendered{}, err
	}
	if k.region != (Region{}) {
		g, head = crop(g, head, k.region, k.dpi)
	}
	w, h := g.Rect.Dx(), g.Rect.Dy()
	var img image.Image = g
	switch k.mode {
	case "RGB24":
		img = colourise(g, head)
		if k.format == "image/png" {
			// 8 bits per channel: png encodes what it does not know
			// (YCbCr) as 16.
			rgb := image.NewRGBA(g.Rect)
			draw.Draw(rgb, rgb.Rect, img, g.Rect.Min, draw.Src)
			img = rgb
		}
	case "BlackAndWhite1":
		for i, v := range g.Pix {
			if v < 160 {
				g.Pix[i] = 0
			} else {
				g.Pix[i] = 255
			}
		}
		if k.format == "image/png" {
			pal := image.NewPaletted(g.Rect, color.Palette{color.Gray{0}, color.Gray{255}})
			for i, v := range g.Pix {
				if v != 0 {
					pal.Pix[i] = 1
				}
			}
			img = pal
		}
	}
	var buf bytes.Buffer
	switch k.format {
	case "image/png":
		enc := png.Encoder{CompressionLevel: png.BestSpeed}
		if err := enc.Encode(&buf, img); err != nil {
			return rendered{}, fmt.Errorf("sim: png: %w", err)
		}
	case "image/jpeg", "application/pdf":
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality}); err != nil {
			return rendered{}, fmt.Errorf("sim: jpeg: %w", err)
		}
		if k.format == "application/pdf" {
			cs := "DeviceGray"
			if k.mode == "RGB24" {
				cs = "DeviceRGB"
			}
			return rendered{data: onePagePDF(buf.Bytes(), w, h, k.dpi, cs), format: k.format, w: w, h: h}, nil
		}
	default:
		return rendered{}, fmt.Errorf("sim: unknown format %q", k.format)
	}
	return rendered{data: buf.Bytes(), format: k.format, w: w, h: h}, nil
}

// crop cuts the region out of an A4 page at dpi: what lies beyond the
// sheet is the scanner's white backing.
func crop(g *image.Gray, head image.Rectangle, r Region, dpi int) (*image.Gray, image.Rectangle) {
	px := func(v int) int { return v * dpi / 300 }
	if px(r.XOffset) == 0 && px(r.YOffset) == 0 && image.Rect(0, 0, max(1, px(r.Width)), max(1, px(r.Height))) == g.Rect {
		return g, head // the whole sheet, as the kiosk asks
	}
	out := image.NewGray(image.Rect(0, 0, max(1, px(r.Width)), max(1, px(r.Height))))
	for i := range out.Pix {
		out.Pix[i] = 255
	}
	off := image.Pt(px(r.XOffset), px(r.YOffset))
	draw.Draw(out, out.Rect, g, off, draw.Src)
	// draw leaves what g does not cover untouched: white.
	return out, head.Sub(off).Intersect(out.Rect)
}

// colourise turns the luma plane into a 4:2:0 colour page: slightly warm
// paper and a blue letterhead. It shares g's pixels as the Y plane.
func colourise(g *image.Gray, head image.Rectangle) *image.YCbCr {
	r := g.Rect
	y := image.NewYCbCr(r, image.YCbCrSubsampleRatio420)
	y.Y = g.Pix
	y.YStride = g.Stride
	for i := range y.Cb {
		y.Cb[i] = 126
		y.Cr[i] = 129
	}
	for py := head.Min.Y / 2; py < head.Max.Y/2; py++ {
		for px := head.Min.X / 2; px < head.Max.X/2; px++ {
			y.Cb[py*y.CStride+px] = 175
			y.Cr[py*y.CStride+px] = 100
		}
	}
	return y
}

// onePagePDF wraps a JPEG as the only image of a one-page PDF of the
// page's physical size, as scanners deliver "application/pdf".
func onePagePDF(jpg []byte, w, h, dpi int, colorSpace string) []byte {
	pw := float64(w) * 72 / float64(dpi)
	ph := float64(h) * 72 / float64(dpi)
	content := fmt.Sprintf("q %.2f 0 0 %.2f 0 0 cm /Im0 Do Q\n", pw, ph)
	var b bytes.Buffer
	var offs []int
	obj := func(s string) {
		offs = append(offs, b.Len())
		b.WriteString(s)
	}
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	obj("1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n")
	obj("2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n")
	obj(fmt.Sprintf("3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.2f %.2f] /Resources << /XObject << /Im0 4 0 R >> >> /Contents 5 0 R >>\nendobj\n", pw, ph))
	obj(fmt.Sprintf("4 0 obj\n<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /%s /BitsPerComponent 8 /Filter /DCTDecode /Length %d >>\nstream\n", w, h, colorSpace, len(jpg)))
	b.Write(jpg)
	b.WriteString("\nendstream\nendobj\n")
	obj(fmt.Sprintf("5 0 obj\n<< /Length %d >>\nstream\n%sendstream\nendobj\n", len(content), content))
	xref := b.Len()
	b.WriteString("xref\n0 6\n0000000000 65535 f \n")
	for _, o := range offs {
		b.WriteString(fmt.Sprintf("%010d 00000 n \n", o))
	}
	b.WriteString("trailer\n<< /Size 6 /Root 1 0 R >>\nstartxref\n" + strconv.Itoa(xref) + "\n%%EOF\n")
	return b.Bytes()
}

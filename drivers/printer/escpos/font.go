package escpos

import (
	"fmt"
	"image"
	"image/draw"
	"os"
	"strings"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// FontPaths are where Debian puts a font that holds Arabic (with its
// presentation forms), Cyrillic, Greek and Latin: fonts-dejavu-core, else
// fonts-noto-core. The kiosk's package depends on fonts-dejavu-core.
var FontPaths = []string{
	"/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
	"/usr/share/fonts/truetype/noto/NotoSansArabic-Regular.ttf",
}

// Font draws the lines of a receipt the printer's character tables cannot
// carry (Arabic, any script without a code page) as raster images: shaped,
// in visual order, aligned as the line is.
type Font struct {
	ttf *opentype.Font

	mu    sync.Mutex
	faces map[int]font.Face // by scale
}

// fontPx is the font's size at scale 1: close to Font A's 24-dot line.
const fontPx = 26

// ParseFont reads a TrueType or OpenType font.
func ParseFont(ttf []byte) (*Font, error) {
	f, err := opentype.Parse(ttf)
	if err != nil {
		return nil, fmt.Errorf("escpos: font: %w", err)
	}
	return &Font{ttf: f, faces: map[int]font.Face{}}, nil
}

// LoadFont reads the font at path.
func LoadFont(path string) (*Font, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("escpos: font: %w", err)
	}
	return ParseFont(b)
}

// SystemFont loads the first of FontPaths there is.
func SystemFont() (*Font, error) {
	var errs []string
	for _, p := range FontPaths {
		f, err := LoadFont(p)
		if err == nil {
			return f, nil
		}
		errs = append(errs, err.Error())
	}
	return nil, fmt.Errorf("escpos: no font for non-Latin receipts (install fonts-dejavu-core): %s", strings.Join(errs, "; "))
}

func (f *Font) face(scale int) (font.Face, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fc, ok := f.faces[scale]; ok {
		return fc, nil
	}
	fc, err := opentype.NewFace(f.ttf, &opentype.FaceOptions{Size: float64(fontPx * scale), DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return nil, fmt.Errorf("escpos: font: %w", err)
	}
	f.faces[scale] = fc
	return fc, nil
}

// Has reports whether the font has a glyph for every letter of s once
// shaped (spaces and marks aside).
func (f *Font) Has(s string) bool {
	fc, err := f.face(1)
	if err != nil {
		return false
	}
	v, _ := Visual(s)
	for _, r := range v {
		if r == ' ' || arabic.isTransparent(r) {
			continue
		}
		if _, ok := fc.GlyphAdvance(r); !ok {
			return false
		}
	}
	return true
}

// width is how wide s (in visual order) draws at scale, in dots.
func (f *Font) width(s string, scale int) int {
	fc, err := f.face(scale)
	if err != nil {
		return 0
	}
	return font.MeasureString(fc, s).Ceil()
}

// lineRaster draws pieces on one line of dots: each piece's visual text
// at its x. bold draws every stroke twice, one dot apart.
func (f *Font) lineRaster(dots, scale int, bold bool, pieces []placed) (Raster, error) {
	fc, err := f.face(scale)
	if err != nil {
		return Raster{}, err
	}
	m := fc.Metrics()
	asc, h := m.Ascent.Ceil(), (m.Ascent+m.Descent).Ceil()+2*scale
	img := image.NewGray(image.Rect(0, 0, dots, h))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	for _, p := range pieces {
		for dx := range 1 + btoi(bold) {
			d := font.Drawer{Dst: img, Src: image.Black, Face: fc, Dot: fixed.P(p.x+dx, asc+scale)}
			d.DrawString(p.text)
		}
	}
	wb := dots / 8
	r := Raster{Width: dots, Height: h, Bits: make([]byte, wb*h)}
	for y := range h {
		for x := range dots {
			if img.Pix[y*img.Stride+x] < 128 { // a thermal dot is on or off
				r.Bits[y*wb+x/8] |= 0x80 >> (x % 8)
			}
		}
	}
	return r, nil
}

type placed struct {
	text string
	x    int
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// wrapDots breaks s (logical order) at spaces into lines that draw at most
// dots wide.
func (f *Font) wrapDots(s string, dots, scale int) []string {
	var lines []string
	cur := ""
	for _, w := range strings.Fields(s) {
		next := w
		if cur != "" {
			next = cur + " " + w
		}
		if v, _ := Visual(next); cur != "" && f.width(v, scale) > dots {
			lines = append(lines, cur)
			cur = w
			continue
		}
		cur = next
	}
	if cur != "" || len(lines) == 0 {
		lines = append(lines, cur)
	}
	return lines
}

package document

import (
	"image"
	"math"

	fitz "github.com/gen2brain/go-fitz"
)

// rasterPDF draws the single page of the PDF at path at the page's
// resolution through MuPDF. The pixel size is checked before drawing, so an
// absurd MediaBox cannot make it allocate without bound.
func rasterPDF(path string, pg *Page, opt Options) (image.Image, error) {
	doc, err := fitz.New(path)
	if err != nil {
		return nil, malformed("PDF: %v", err)
	}
	defer doc.Close()
	if n := doc.NumPage(); n != 1 {
		return nil, malformed("PDF has %d pages, want 1", n)
	}
	b, err := doc.Bound(0)
	if err != nil {
		return nil, malformed("PDF page: %v", err)
	}
	if pg.Resolution < 50 || pg.Resolution > 2400 {
		return nil, malformed("resolution %d dpi", pg.Resolution)
	}
	px := func(pt int) int { return int(math.Round(float64(pt) * float64(pg.Resolution) / 72)) }
	if err := checkSize(pg, px(b.Dx()), px(b.Dy()), opt); err != nil {
		return nil, err
	}
	img, err := doc.ImageDPI(0, float64(pg.Resolution))
	if err != nil {
		return nil, malformed("PDF page: %v", err)
	}
	if err := checkSize(pg, img.Rect.Dx(), img.Rect.Dy(), opt); err != nil {
		return nil, err
	}
	return img, nil
}

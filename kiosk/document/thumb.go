package document

import (
	"errors"
	"fmt"

	fitz "github.com/gen2brain/go-fitz"
)

// ThumbWidth is the thumbnail width for the kiosk's review screen: three
// pages side by side on a 1080 px wide touch screen.
const ThumbWidth = 320

// ErrBadThumb marks an unusable thumbnail request (page or width out of
// range).
var ErrBadThumb = errors.New("document: bad thumbnail request")

// Thumbnail renders page i (0-based) of the PDF at pdfPath as PNG, width
// pixels wide, through MuPDF: the customer sees what the central will file.
func Thumbnail(pdfPath string, i int, width int) ([]byte, error) {
	if i < 0 {
		return nil, ErrBadThumb
	}
	doc, err := fitz.New(pdfPath)
	if err != nil {
		return nil, fmt.Errorf("document: thumbnail: %w", err)
	}
	defer doc.Close()
	return thumb(doc, i, width)
}

// Thumbnails renders every page of the PDF at pdfPath, opening it once.
func Thumbnails(pdfPath string, width int) ([][]byte, error) {
	doc, err := fitz.New(pdfPath)
	if err != nil {
		return nil, fmt.Errorf("document: thumbnail: %w", err)
	}
	defer doc.Close()
	out := make([][]byte, doc.NumPage())
	for i := range out {
		if out[i], err = thumb(doc, i, width); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func thumb(doc *fitz.Document, i, width int) ([]byte, error) {
	if width < 16 || width > 4096 || i < 0 || i >= doc.NumPage() {
		return nil, ErrBadThumb
	}
	b, err := doc.Bound(i)
	if err != nil {
		return nil, fmt.Errorf("document: thumbnail: %w", err)
	}
	if b.Dx() <= 0 {
		return nil, fmt.Errorf("document: thumbnail: empty page %d", i)
	}
	// Bound is in points; MuPDF scales by dpi/72.
	png, err := doc.ImagePNG(i, float64(width)*72/float64(b.Dx()))
	if err != nil {
		return nil, fmt.Errorf("document: thumbnail: %w", err)
	}
	return png, nil
}

package document

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"image/color"
	"image/jpeg"
	"io"
	"os"
	"time"

	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/kiosk/document/pdfa"
)

// Meta is the document information written into the PDF (Info dictionary
// and XMP alike). It must not carry personal data beyond what the central
// expects inside the sealed packet.
type Meta struct {
	Title      string
	DocumentID string // hex; empty means random
	Created    time.Time
	Producer   string
}

// Summary describes the PDF Build wrote.
type Summary struct {
	Pages  int
	Bytes  int64
	SHA256 [32]byte
}

// ErrPageFile marks a page file that no longer matches its Page (changed or
// removed since Ingest).
var ErrPageFile = errors.New("document: page file does not match")

// Build writes a PDF/A-2b of the given pages, in order, to w. It streams:
// each page's image is copied from its file as is, one page at a time, so
// memory does not grow with the page count.
func Build(ctx context.Context, w io.Writer, pages []Page, meta Meta) (Summary, error) {
	if len(pages) == 0 {
		return Summary{}, ErrNoPages
	}
	if meta.Created.IsZero() {
		meta.Created = time.Now()
	}
	if meta.Producer == "" {
		meta.Producer = "Einwurf"
	}
	pw, err := pdfa.NewWriter(w, pdfa.Info{Title: meta.Title, DocumentID: meta.DocumentID, Created: meta.Created, Producer: meta.Producer})
	if err != nil {
		return Summary{}, fmt.Errorf("document: %w", err)
	}
	for i := range pages {
		if err := ctx.Err(); err != nil {
			return Summary{}, err
		}
		if err := addPage(pw, &pages[i]); err != nil {
			return Summary{}, fmt.Errorf("document: page %d: %w", i+1, err)
		}
	}
	n, sum, err := pw.Close()
	if err != nil {
		return Summary{}, fmt.Errorf("document: %w", err)
	}
	return Summary{Pages: len(pages), Bytes: n, SHA256: sum}, nil
}

func addPage(pw *pdfa.Writer, p *Page) error {
	f, err := os.Open(p.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if p.Resolution <= 0 {
		return fmt.Errorf("%w: resolution %d", ErrPageFile, p.Resolution)
	}
	img := pdfa.Image{Width: p.Width, Height: p.Height, Length: st.Size(), BitsPerComponent: 8}
	switch p.Format {
	case scanner.FormatJPEG:
		// Check the header again: the file is copied blind after this.
		cfg, err := jpeg.DecodeConfig(bufio.NewReader(f))
		if err != nil || cfg.Width != p.Width || cfg.Height != p.Height {
			return fmt.Errorf("%w: %s", ErrPageFile, p.Path)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		img.Filter = pdfa.FilterDCT
		img.ColorSpace = pdfa.DeviceRGB
		if cfg.ColorModel == color.GrayModel {
			img.ColorSpace = pdfa.DeviceGray
		}
	case FormatG4:
		img.Filter, img.ColorSpace, img.BitsPerComponent = pdfa.FilterCCITT, pdfa.DeviceGray, 1
	case FormatFlateGray:
		img.Filter, img.ColorSpace = pdfa.FilterFlate, pdfa.DeviceGray
	case FormatFlateRGB:
		img.Filter, img.ColorSpace = pdfa.FilterFlate, pdfa.DeviceRGB
	default:
		return fmt.Errorf("%w: format %q", ErrPageFile, p.Format)
	}
	img.Data = f
	return pw.AddPage(img, points(p.Width, p.Resolution), points(p.Height, p.Resolution))
}

package document

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
	// One header reader for all pages: per-page garbage would make the
	// heap grow with the page count until the next collection.
	br := bufio.NewReaderSize(nil, 4096)
	for i := range pages {
		if err := ctx.Err(); err != nil {
			return Summary{}, err
		}
		if err := addPage(pw, &pages[i], br); err != nil {
			return Summary{}, fmt.Errorf("document: page %d: %w", i+1, err)
		}
	}
	n, sum, err := pw.Close()
	if err != nil {
		return Summary{}, fmt.Errorf("document: %w", err)
	}
	return Summary{Pages: len(pages), Bytes: n, SHA256: sum}, nil
}

func addPage(pw *pdfa.Writer, p *Page, br *bufio.Reader) error {
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
		br.Reset(f)
		w, h, comps, err := jpegSize(br)
		if err != nil || w != p.Width || h != p.Height || (comps != 1 && comps != 3) {
			return fmt.Errorf("%w: %s", ErrPageFile, filepath.Base(p.Path))
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		img.Filter = pdfa.FilterDCT
		img.ColorSpace = pdfa.DeviceRGB
		if comps == 1 {
			img.ColorSpace = pdfa.DeviceGray
		}
	case FormatG4:
		img.Filter, img.ColorSpace, img.BitsPerComponent = pdfa.FilterCCITT, pdfa.DeviceGray, 1
	case FormatFlateGray:
		img.Filter, img.ColorSpace = pdfa.FilterFlate, pdfa.DeviceGray
	case FormatFlateBilevel:
		img.Filter, img.ColorSpace, img.BitsPerComponent = pdfa.FilterFlate, pdfa.DeviceGray, 1
	case FormatFlateRGB:
		img.Filter, img.ColorSpace = pdfa.FilterFlate, pdfa.DeviceRGB
	default:
		return fmt.Errorf("%w: format %q", ErrPageFile, p.Format)
	}
	img.Data = f
	return pw.AddPage(img, points(p.Width, p.Resolution), points(p.Height, p.Resolution))
}

// errJPEGHeader marks a JPEG whose header jpegSize cannot read.
var errJPEGHeader = errors.New("document: bad JPEG header")

// jpegSize reads the JPEG markers up to the frame header and returns the
// image size and number of components, without allocating.
func jpegSize(r *bufio.Reader) (w, h, comps int, err error) {
	var soi [2]byte
	if _, err := io.ReadFull(r, soi[:]); err != nil || soi != [2]byte{0xFF, 0xD8} {
		return 0, 0, 0, errJPEGHeader
	}
	for range 4096 { // bounded: a header has a few dozen segments
		c, err := r.ReadByte()
		if err != nil {
			return 0, 0, 0, errJPEGHeader
		}
		if c != 0xFF {
			return 0, 0, 0, errJPEGHeader
		}
		m, err := r.ReadByte()
		for err == nil && m == 0xFF { // fill bytes
			m, err = r.ReadByte()
		}
		if err != nil {
			return 0, 0, 0, errJPEGHeader
		}
		switch {
		case m == 0x01 || (m >= 0xD0 && m <= 0xD7):
			continue // no length
		case m == 0xD8 || m == 0xD9 || m == 0xDA || m == 0x00:
			return 0, 0, 0, errJPEGHeader // no frame header before data
		}
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return 0, 0, 0, errJPEGHeader
		}
		n := int(l[0])<<8 | int(l[1])
		if n < 2 {
			return 0, 0, 0, errJPEGHeader
		}
		if m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC {
			var sof [6]byte
			if n < 8 {
				return 0, 0, 0, errJPEGHeader
			}
			if _, err := io.ReadFull(r, sof[:]); err != nil {
				return 0, 0, 0, errJPEGHeader
			}
			h, w = int(sof[1])<<8|int(sof[2]), int(sof[3])<<8|int(sof[4])
			return w, h, int(sof[5]), nil
		}
		if _, err := r.Discard(n - 2); err != nil {
			return 0, 0, 0, errJPEGHeader
		}
	}
	return 0, 0, 0, errJPEGHeader
}

// Package document turns the pages a scanner delivers into what the central
// archives: each page is written to a file in the session's private folder
// as it arrives and analysed (blank back? barcodes with a customer number?);
// the pages the customer keeps are then built into one PDF/A-2b, streaming,
// and thumbnails for the review screen are rendered from that very PDF.
//
// Page files are named by sheet and side only, never by anything personal.
package document

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"os"

	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/kiosk/document/blank"
	"github.com/einwurf/einwurf/kiosk/document/codes"
	"github.com/einwurf/einwurf/kiosk/document/g4"
	"github.com/einwurf/einwurf/kiosk/document/pdfa"
)

// Formats of page files besides scanner.FormatJPEG. They name how the file
// is encoded, ready to be copied into the PDF as is.
const (
	// FormatG4 is a bilevel page as a raw CCITT Group 4 (T.6) stream.
	FormatG4 = "image/x-ccitt-g4"
	// FormatFlateGray and FormatFlateRGB are 8-bit samples, zlib-compressed
	// (PNG pages that are neither bilevel nor JPEG: kept lossless).
	FormatFlateGray = "image/x-flate-gray"
	FormatFlateRGB  = "image/x-flate-rgb"
	// FormatFlateBilevel is a bilevel page as zlib-compressed 1-bit rows
	// (0 black), chosen over G4 when it comes out smaller (speckled pages).
	FormatFlateBilevel = "image/x-flate-bilevel"
)

// Code is a barcode found on a page: its symbology ("DataMatrix",
// "Code128") and raw text. kiosk/ident decides whether it is a number.
type Code = codes.Code

// Page is one scanned page held as a file in the session's private folder.
type Page struct {
	Path       string
	Format     string // scanner.FormatJPEG or one of the Format constants here
	Sheet      int
	Side       scanner.Side
	Resolution int // dots per inch
	Width      int // pixels
	Height     int // pixels
	// Blank is set when the page was judged blank (a candidate for removal;
	// the customer may undo that on the review screen).
	Blank bool
	// Ink is the fraction of the page judged to be print, behind Blank.
	Ink float64
	// Codes are the barcodes found on the page.
	Codes []Code
	// Thumb is the page's thumbnail (JPEG, Options.ThumbWidth wide) in the
	// same folder, made at Ingest from the same decode as the analysis;
	// empty when none was asked for.
	Thumb string
}

// Options tune Ingest. Start from DefaultOptions: zero limits are refused
// with ErrBadOptions.
type Options struct {
	// BlankThreshold is the fraction of ink (0..1) under which a page is
	// judged blank. 0 turns blank detection off.
	BlankThreshold float64
	// BlankContrast is how many grey levels below the paper counts as ink;
	// show-through stays above it.
	BlankContrast int
	// DetectCodes turns barcode detection on.
	DetectCodes bool
	// MaxPageBytes bounds the size of one page as delivered.
	MaxPageBytes int64
	// MaxPixels bounds width*height of one page.
	MaxPixels int
	// ThumbWidth is the width of the thumbnail Ingest makes (Page.Thumb)
	// from the decode it analyses, far cheaper than rendering the PDF
	// again; 0 (the default) makes none.
	ThumbWidth int
}

// DefaultOptions are the settings for office paper at 150 to 600 dpi.
func DefaultOptions() Options {
	b := blank.DefaultOptions()
	return Options{
		BlankThreshold: b.Threshold,
		BlankContrast:  b.Contrast,
		DetectCodes:    true,
		MaxPageBytes:   64 << 20,
		MaxPixels:      80_000_000, // A3 at 600 dpi is 70 million
	}
}

// Errors of this package.
var (
	// ErrMalformedPage marks a page that cannot be used: truncated or
	// corrupt image, a PDF that is not one, an absurd size. Only that page
	// is lost; nothing else in the folder is touched.
	ErrMalformedPage = errors.New("document: malformed page")
	// ErrNoPages is returned by Build for an empty page list.
	ErrNoPages = errors.New("document: no pages")
	// ErrBadOptions marks unusable Options.
	ErrBadOptions = errors.New("document: bad options")
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformedPage, fmt.Sprintf(format, args...))
}

// Ingest streams one scanner page into a file in dir (named by sheet and
// side), analyses it and returns it. p.Body is always closed. A malformed
// page gives an error wrapping ErrMalformedPage; earlier pages are untouched
// and no file of the failed page is left behind.
func Ingest(ctx context.Context, dir string, p *scanner.Page, opt Options) (Page, error) {
	return IngestIn(ctx, Dir(dir), p, opt)
}

// IngestIn is Ingest into a Folder; the page's Path opens it again.
func IngestIn(ctx context.Context, dir Folder, p *scanner.Page, opt Options) (Page, error) {
	if p == nil {
		return Page{}, malformed("no page")
	}
	if p.Body == nil {
		return Page{}, malformed("page without body")
	}
	defer p.Body.Close()
	if opt.MaxPageBytes <= 0 || opt.MaxPixels <= 0 || opt.BlankThreshold < 0 || opt.BlankThreshold > 1 || opt.ThumbWidth < 0 || opt.ThumbWidth > 4096 {
		return Page{}, ErrBadOptions
	}
	if p.Sheet < 1 || p.Sheet > 99999 || (p.Side != scanner.Front && p.Side != scanner.Back) {
		return Page{}, malformed("sheet %d side %d", p.Sheet, p.Side)
	}
	if err := ctx.Err(); err != nil {
		return Page{}, err
	}
	tmp, err := dir.CreateTemp(".ingest-*")
	if err != nil {
		return Page{}, fmt.Errorf("document: %w", err)
	}
	tmpName := tmp.Name()
	// Every file made here is removed on return, except the page kept.
	made := []string{tmpName}
	kept, keptThumb := "", ""
	defer func() {
		for _, name := range made {
			if name != kept && name != keptThumb {
				dir.Remove(name)
			}
		}
	}()
	n, err := io.Copy(tmp, io.LimitReader(p.Body, opt.MaxPageBytes+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Page{}, fmt.Errorf("document: reading page: %w", err)
	}
	if n > opt.MaxPageBytes {
		return Page{}, malformed("page larger than %d bytes", opt.MaxPageBytes)
	}
	if n == 0 {
		return Page{}, malformed("empty page")
	}

	pg := Page{Sheet: p.Sheet, Side: p.Side, Resolution: p.Resolution}
	var img image.Image
	var v view
	var out string // file holding the page as it goes into the PDF
	switch p.Format {
	case scanner.FormatJPEG:
		v, err = ingestJPEG(tmpName, &pg, opt)
		out = tmpName
	case scanner.FormatPDF:
		var jpg string
		jpg, err = jpegFromPDF(tmpName, dir, opt)
		switch {
		case err == nil:
			made = append(made, jpg)
			v, err = ingestJPEG(jpg, &pg, opt)
			out = jpg
		case errors.Is(err, errNotDCT):
			// Not a JPEG inside: take the page as MuPDF draws it at the
			// scan resolution, which for a bilevel image is exactly its
			// pixels, and store that losslessly.
			img, err = rasterPDF(tmpName, &pg, opt)
			if err == nil {
				out, err = storeLossless(img, dir, &pg)
				if out != "" {
					made = append(made, out)
				}
			}
		}
	case scanner.FormatPNG:
		out, img, err = ingestPNG(tmpName, dir, &pg, opt)
		if out != "" {
			made = append(made, out)
		}
	default:
		return Page{}, malformed("unsupported format %q", p.Format)
	}
	if err != nil {
		return Page{}, err
	}
	if img != nil {
		v = viewOf(img, pg.Resolution)
	}
	if err := analyse(ctx, v, &pg, opt); err != nil {
		return Page{}, err
	}
	if opt.ThumbWidth > 0 {
		th, err := writeThumb(v, min(opt.ThumbWidth, pg.Width), dir)
		if err != nil {
			return Page{}, err
		}
		made = append(made, th)
		if pg.Thumb, err = dir.Rename(th, fmt.Sprintf("sheet-%05d-%s.thumb.jpg", pg.Sheet, pg.Side)); err != nil {
			return Page{}, err
		}
		made = append(made, pg.Thumb)
	}
	ext := map[string]string{scanner.FormatJPEG: "jpg", FormatG4: "g4", FormatFlateGray: "zz", FormatFlateRGB: "zz", FormatFlateBilevel: "zz"}[pg.Format]
	path, err := dir.Rename(out, fmt.Sprintf("sheet-%05d-%s.%s", pg.Sheet, pg.Side, ext))
	if err != nil {
		return Page{}, err
	}
	pg.Path, kept = path, path
	made = append(made, path)
	keptThumb = pg.Thumb
	return pg, nil
}

// checkSize validates the pixel size and resolution of a page.
func checkSize(pg *Page, w, h int, opt Options) error {
	if w <= 0 || h <= 0 || int64(w)*int64(h) > int64(opt.MaxPixels) {
		return malformed("image size %dx%d", w, h)
	}
	if pg.Resolution < 50 || pg.Resolution > 2400 {
		return malformed("resolution %d dpi", pg.Resolution)
	}
	wPt, hPt := points(w, pg.Resolution), points(h, pg.Resolution)
	if wPt < 36 || hPt < 36 || wPt > pdfa.MaxPageSide || hPt > pdfa.MaxPageSide {
		return malformed("page size %.0fx%.0f pt", wPt, hPt)
	}
	pg.Width, pg.Height = w, h
	return nil
}

func points(px, dpi int) float64 { return float64(px) * 72 / float64(dpi) }

// ingestJPEG validates the JPEG at path by decoding it fully (a truncated
// file fails here, not in the archive) and returns its view for analysis.
// Baseline JPEGs, what scanners send, are decoded once into coefficients
// (jpegdec); anything else, or anything jpegdec finds fault with, is judged
// and decoded by image/jpeg.
func ingestJPEG(path string, pg *Page, opt Options) (view, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return view{}, fmt.Errorf("document: %w", err)
	}
	if pg.Resolution == 0 {
		// The scanner did not say; the JFIF header may.
		pg.Resolution = jfifDensity(data)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return view{}, malformed("jpeg header: %v", err)
	}
	switch cfg.ColorModel {
	case color.GrayModel, color.YCbCrModel, color.RGBAModel: // RGBA: Adobe RGB-transform JPEG
	default:
		// CMYK would need a CMYK output intent; scanners do not send it.
		return view{}, malformed("jpeg colour model not grey or RGB")
	}
	if err := checkSize(pg, cfg.Width, cfg.Height, opt); err != nil {
		return view{}, err
	}
	pg.Format = scanner.FormatJPEG
	if v, err := decodeJPEG(data, pg.Resolution); err == nil {
		return v, nil
	}
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return view{}, malformed("jpeg data: %v", err)
	}
	return viewOf(img, pg.Resolution), nil
}

// jfifDensity returns the dots per inch a JFIF APP0 header states, or 0.
func jfifDensity(b []byte) int {
	if len(b) < 18 || b[0] != 0xFF || b[1] != 0xD8 || b[2] != 0xFF || b[3] != 0xE0 || string(b[6:11]) != "JFIF\x00" {
		return 0
	}
	x := int(b[14])<<8 | int(b[15])
	switch b[13] {
	case 1:
		return x
	case 2:
		return int(float64(x)*2.54 + 0.5)
	}
	return 0
}

// ingestPNG decodes a PNG page and re-encodes it losslessly for the PDF:
// bilevel pages as CCITT G4, others as zlib-compressed samples. It returns
// the new file.
func ingestPNG(path string, dir Folder, pg *Page, opt Options) (string, image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", nil, fmt.Errorf("document: %w", err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(bufio.NewReader(f))
	if err != nil {
		return "", nil, malformed("png header: %v", err)
	}
	if err := checkSize(pg, cfg.Width, cfg.Height, opt); err != nil {
		return "", nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", nil, fmt.Errorf("document: %w", err)
	}
	img, err := png.Decode(bufio.NewReaderSize(f, 64<<10))
	if err != nil {
		return "", nil, malformed("png data: %v", err)
	}
	out, err := storeLossless(img, dir, pg)
	if err != nil {
		return "", nil, err
	}
	return out, img, nil
}

// storeLossless writes img to a new file in dir for the PDF: bilevel pages
// as CCITT G4 (or 1-bit Flate where that is smaller), others as
// zlib-compressed samples. It sets pg.Format and returns the file's name.
func storeLossless(img image.Image, dir Folder, pg *Page) (string, error) {
	bm := bilevel(img)
	if bm == nil {
		return writeFile(dir, func(w io.Writer) error { return writeFlate(w, img, pg) })
	}
	g4name, err := writeFile(dir, func(w io.Writer) error { return g4.Encode(w, bm) })
	if err != nil {
		return "", err
	}
	zname, err := writeFile(dir, func(w io.Writer) error { return writeFlateBits(w, bm) })
	if err != nil {
		dir.Remove(g4name)
		return "", err
	}
	g4st, err1 := os.Stat(g4name)
	zst, err2 := os.Stat(zname)
	if err := errors.Join(err1, err2); err != nil {
		dir.Remove(g4name)
		dir.Remove(zname)
		return "", fmt.Errorf("document: %w", err)
	}
	if zst.Size() < g4st.Size() {
		dir.Remove(g4name)
		pg.Format = FormatFlateBilevel
		return zname, nil
	}
	dir.Remove(zname)
	pg.Format = FormatG4
	return g4name, nil
}

// writeFile writes a new file in dir with fill and returns its name; on
// error no file is left.
func writeFile(dir Folder, fill func(io.Writer) error) (string, error) {
	out, err := dir.CreateTemp(".page-*")
	if err != nil {
		return "", fmt.Errorf("document: %w", err)
	}
	name := out.Name()
	bw := bufio.NewWriterSize(out, 64<<10)
	err = fill(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		dir.Remove(name)
		return "", fmt.Errorf("document: %w", err)
	}
	return name, nil
}

// writeFlateBits writes the bitmap's rows zlib-compressed, inverted: in a
// 1-bit DeviceGray image 0 is black, while the bitmap has 1 for black.
func writeFlateBits(w io.Writer, bm *g4.Bitmap) error {
	zw, err := zlib.NewWriterLevel(w, zlib.DefaultCompression)
	if err != nil {
		return err
	}
	n := (bm.Width + 7) / 8
	row := make([]byte, n)
	for y := 0; y < bm.Height; y++ {
		for i, v := range bm.Pix[y*bm.Stride : y*bm.Stride+n] {
			row[i] = ^v
		}
		if _, err := zw.Write(row); err != nil {
			return err
		}
	}
	return zw.Close()
}

// bilevel returns img as a packed bitmap when every pixel is pure black or
// pure white, else nil.
func bilevel(img image.Image) *g4.Bitmap {
	b := img.Bounds()
	bm := g4.NewBitmap(b.Dx(), b.Dy())
	switch m := img.(type) {
	case *image.Paletted:
		black := make([]bool, len(m.Palette))
		for i, c := range m.Palette {
			y := color.GrayModel.Convert(c).(color.Gray).Y
			if y != 0 && y != 255 {
				return nil
			}
			black[i] = y == 0
		}
		for y := 0; y < b.Dy(); y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+b.Dx()]
			for x, v := range row {
				if int(v) < len(black) && black[v] {
					bm.Set(x, y, true)
				}
			}
		}
		return bm
	case *image.Gray:
		for y := 0; y < b.Dy(); y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+b.Dx()]
			for x, v := range row {
				switch v {
				case 0:
					bm.Set(x, y, true)
				case 255:
				default:
					return nil
				}
			}
		}
		return bm
	case *image.RGBA:
		for y := 0; y < b.Dy(); y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+4*b.Dx()]
			for x := 0; x < b.Dx(); x++ {
				r, g, bl := row[4*x], row[4*x+1], row[4*x+2]
				switch {
				case r == 0 && g == 0 && bl == 0:
					bm.Set(x, y, true)
				case r == 255 && g == 255 && bl == 255:
				default:
					return nil
				}
			}
		}
		return bm
	}
	return nil
}

// writeFlate writes img's samples, grey or RGB, zlib-compressed.
func writeFlate(w io.Writer, img image.Image, pg *Page) error {
	b := img.Bounds()
	_, isGray := img.(*image.Gray)
	if m, ok := img.(*image.RGBA); ok {
		isGray = true
		for i := 0; i+3 < len(m.Pix) && isGray; i += 4 {
			isGray = m.Pix[i] == m.Pix[i+1] && m.Pix[i+1] == m.Pix[i+2]
		}
	}
	if p, ok := img.(*image.Paletted); ok {
		isGray = true
		for _, c := range p.Palette {
			r, g, bl, _ := c.RGBA()
			if r != g || g != bl {
				isGray = false
			}
		}
	}
	zw, err := zlib.NewWriterLevel(w, zlib.BestSpeed)
	if err != nil {
		return err
	}
	comps := 3
	pg.Format = FormatFlateRGB
	if isGray {
		comps = 1
		pg.Format = FormatFlateGray
	}
	row := make([]byte, b.Dx()*comps)
	if m, ok := img.(*image.RGBA); ok {
		// MuPDF's drawings: opaque RGBA, no conversion needed.
		for y := 0; y < b.Dy(); y++ {
			src := m.Pix[y*m.Stride : y*m.Stride+4*b.Dx()]
			for x := 0; x < b.Dx(); x++ {
				if comps == 1 {
					row[x] = src[4*x]
				} else {
					copy(row[3*x:3*x+3], src[4*x:4*x+3])
				}
			}
			if _, err := zw.Write(row); err != nil {
				return err
			}
		}
		return zw.Close()
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			// Alpha is dropped: PDF/A forbids transparency, and scans
			// have none.
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			i := (x - b.Min.X) * comps
			if comps == 1 {
				row[i] = c.R
			} else {
				row[i], row[i+1], row[i+2] = c.R, c.G, c.B
			}
		}
		if _, err := zw.Write(row); err != nil {
			return err
		}
	}
	return zw.Close()
}

// grayOf returns the luminance of img, without copying when it is a JPEG's
// Y plane or already grey.
func grayOf(img image.Image) *image.Gray {
	b := img.Bounds()
	switch m := img.(type) {
	case *image.Gray:
		return m
	case *image.YCbCr:
		return &image.Gray{Pix: m.Y, Stride: m.YStride, Rect: b}
	case *image.Paletted:
		// Bilevel PNGs: one table look-up per pixel instead of a colour
		// conversion.
		var lut [256]uint8
		for i, c := range m.Palette {
			lut[i] = color.GrayModel.Convert(c).(color.Gray).Y
		}
		g := image.NewGray(b)
		for y := 0; y < b.Dy(); y++ {
			src := m.Pix[y*m.Stride : y*m.Stride+b.Dx()]
			dst := g.Pix[y*g.Stride:]
			for x, v := range src {
				dst[x] = lut[v]
			}
		}
		return g
	case *image.RGBA:
		g := image.NewGray(b)
		for y := 0; y < b.Dy(); y++ {
			src := m.Pix[y*m.Stride:]
			dst := g.Pix[y*g.Stride:]
			for x := 0; x < b.Dx(); x++ {
				// Rec. 601 luma, as image/color computes it.
				r, gg, bl := int(src[4*x]), int(src[4*x+1]), int(src[4*x+2])
				dst[x] = uint8((19595*r + 38470*gg + 7471*bl + 1<<15) >> 16)
			}
		}
		return g
	}
	g := image.NewGray(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			g.SetGray(x, y, color.GrayModel.Convert(img.At(x, y)).(color.Gray))
		}
	}
	return g
}

// Stats report what blank-page removal did, for the review screen.
type Stats struct {
	Scanned int
	Kept    int
	// Removed are the indices (into the scanned pages) of the pages
	// dropped as blank, so the customer can bring them back.
	Removed []int
}

// DropBlanks returns the pages not judged blank, in order, and what it did.
// To undo a removal on the review screen, clear that page's Blank and call
// it again.
func DropBlanks(pages []Page) ([]Page, Stats) {
	st := Stats{Scanned: len(pages)}
	kept := make([]Page, 0, len(pages))
	for i, p := range pages {
		if p.Blank {
			st.Removed = append(st.Removed, i)
			continue
		}
		kept = append(kept, p)
	}
	st.Kept = len(kept)
	return kept, st
}

// CodeTexts returns the distinct texts of all codes on the pages, in the
// order first found, for the session to pre-fill or cross-check the
// customer number.
func CodeTexts(pages []Page) []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range pages {
		for _, c := range p.Codes {
			if !seen[c.Text] {
				seen[c.Text] = true
				out = append(out, c.Text)
			}
		}
	}
	return out
}

// Package pdfa writes PDF/A-2b documents of scanned page images, streaming:
// each image's bytes are copied straight from their reader to the output, and
// only the object offsets (a few bytes per page) are kept in memory.
//
// The writer knows nothing about scanners or files; package document feeds it.
package pdfa

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
)

// Info is the document information written both into the Info dictionary
// and the XMP metadata (PDF/A requires the two to agree).
type Info struct {
	Title string
	// DocumentID is the permanent file identifier as hex (16 bytes
	// recommended). Empty means a random one is generated.
	DocumentID string
	Created    time.Time
	Producer   string
}

// Filters and colour spaces the writer accepts for images.
const (
	FilterDCT   = "DCTDecode"
	FilterCCITT = "CCITTFaxDecode"
	FilterFlate = "FlateDecode"

	DeviceRGB  = "DeviceRGB"
	DeviceGray = "DeviceGray"
)

// Image is one page image to embed. Data must yield exactly Length bytes of
// data already encoded with Filter.
type Image struct {
	Width, Height    int
	ColorSpace       string // DeviceRGB or DeviceGray
	BitsPerComponent int    // 8, or 1 for bilevel
	Filter           string
	Length           int64
	Data             io.Reader
}

// Errors returned by the writer.
var (
	// ErrBadImage marks an image description the writer refuses (unknown
	// filter, zero size, ...). Nothing is written for such an image.
	ErrBadImage = errors.New("pdfa: bad image")
	// ErrBadInfo marks unusable document information (e.g. a DocumentID that
	// is not hex).
	ErrBadInfo = errors.New("pdfa: bad document info")
	// ErrClosed is returned when the writer is used after Close.
	ErrClosed = errors.New("pdfa: writer closed")
)

// Fixed object numbers; pages follow from firstPageObj, three objects each
// (page, content stream, image).
const (
	objCatalog   = 1
	objPages     = 2
	objMetadata  = 3
	objICC       = 4
	objInfo      = 5
	firstPageObj = 6
)

// MaxPageSide is the largest page side in points PDF viewers handle
// (the PDF/A-2 implementation limit, 200 inches).
const MaxPageSide = 14400

// Writer writes one PDF/A-2b document.
type Writer struct {
	cw      *countWriter
	bw      *bufio.Writer
	offsets []int64 // offsets[i] is the offset of object i+1
	pages   int
	id      []byte
	err     error // first write error; sticky
	closed  bool
}

type countWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	return n, err
}

// NewWriter writes the file header, catalog, XMP metadata, output intent
// profile and Info dictionary to w and returns a Writer for the pages.
func NewWriter(w io.Writer, info Info) (*Writer, error) {
	var id []byte
	if info.DocumentID == "" {
		id = make([]byte, 16)
		if _, err := rand.Read(id); err != nil {
			return nil, fmt.Errorf("pdfa: document id: %w", err)
		}
	} else {
		var err error
		id, err = hex.DecodeString(info.DocumentID)
		if err != nil || len(id) == 0 || len(id) > 64 {
			return nil, fmt.Errorf("%w: DocumentID must be 1..64 bytes of hex", ErrBadInfo)
		}
	}
	if info.Created.IsZero() {
		return nil, fmt.Errorf("%w: Created is zero", ErrBadInfo)
	}
	cw := &countWriter{w: w, h: sha256.New()}
	pw := &Writer{cw: cw, bw: bufio.NewWriterSize(cw, 64<<10), id: id, offsets: make([]int64, firstPageObj-1)}
	// The comment line with four bytes above 127 marks the file as binary,
	// as PDF/A requires.
	pw.printf("%%PDF-1.7\n%%\xE2\xE3\xCF\xD3\n")

	pw.begin(objCatalog)
	pw.printf("<< /Type /Catalog /Pages %d 0 R /Metadata %d 0 R /OutputIntents [<< /Type /OutputIntent /S /GTS_PDFA1 /OutputConditionIdentifier (sRGB IEC61966-2.1) /Info (sRGB IEC61966-2.1) /DestOutputProfile %d 0 R >>] >>\nendobj\n", objPages, objMetadata, objICC)

	xmp := buildXMP(info, id)
	pw.begin(objMetadata)
	// Metadata stays uncompressed so archive tools can read it without a PDF
	// library.
	pw.printf("<< /Type /Metadata /Subtype /XML /Length %d >>\nstream\n", len(xmp))
	pw.write(xmp)
	pw.printf("\nendstream\nendobj\n")

	var icc bytes.Buffer
	zw := zlib.NewWriter(&icc)
	zw.Write(SRGBProfile())
	zw.Close()
	pw.begin(objICC)
	pw.printf("<< /N 3 /Filter /FlateDecode /Length %d >>\nstream\n", icc.Len())
	pw.write(icc.Bytes())
	pw.printf("\nendstream\nendobj\n")

	pw.begin(objInfo)
	d := pdfDate(info.Created)
	pw.printf("<< /Title %s /Producer %s /Creator %s /CreationDate (%s) /ModDate (%s) >>\nendobj\n",
		pdfText(info.Title), pdfText(info.Producer), pdfText(info.Producer), d, d)
	if pw.err != nil {
		return nil, pw.err
	}
	return pw, nil
}

func (pw *Writer) printf(format string, args ...any) {
	if pw.err != nil {
		return
	}
	_, pw.err = fmt.Fprintf(pw.bw, format, args...)
}

func (pw *Writer) write(b []byte) {
	if pw.err != nil {
		return
	}
	_, pw.err = pw.bw.Write(b)
}

func (pw *Writer) offset() int64 { return pw.cw.n + int64(pw.bw.Buffered()) }

func (pw *Writer) begin(obj int) {
	for len(pw.offsets) < obj {
		pw.offsets = append(pw.offsets, 0)
	}
	pw.offsets[obj-1] = pw.offset()
	pw.printf("%d 0 obj\n", obj)
}

func validate(img Image, wPt, hPt float64) error {
	switch {
	case img.Width <= 0 || img.Height <= 0 || img.Width > 1<<16 || img.Height > 1<<16:
		return fmt.Errorf("%w: size %dx%d", ErrBadImage, img.Width, img.Height)
	case !(wPt >= 3 && wPt <= MaxPageSide && hPt >= 3 && hPt <= MaxPageSide):
		return fmt.Errorf("%w: page size %.1fx%.1f pt", ErrBadImage, wPt, hPt)
	case img.ColorSpace != DeviceRGB && img.ColorSpace != DeviceGray:
		return fmt.Errorf("%w: colour space %q", ErrBadImage, img.ColorSpace)
	case img.Length <= 0 || img.Data == nil:
		return fmt.Errorf("%w: no data", ErrBadImage)
	}
	switch img.Filter {
	case FilterDCT, FilterFlate:
		if img.BitsPerComponent != 8 && !(img.Filter == FilterFlate && img.BitsPerComponent == 1 && img.ColorSpace == DeviceGray) {
			return fmt.Errorf("%w: %d bits with %s", ErrBadImage, img.BitsPerComponent, img.Filter)
		}
	case FilterCCITT:
		if img.BitsPerComponent != 1 || img.ColorSpace != DeviceGray {
			return fmt.Errorf("%w: CCITT needs 1-bit grey", ErrBadImage)
		}
	default:
		return fmt.Errorf("%w: filter %q", ErrBadImage, img.Filter)
	}
	return nil
}

// AddPage writes one page of wPt x hPt points showing img over the whole
// page. The image data is copied from img.Data without being held in memory.
// A bad image description returns ErrBadImage and writes nothing; a short
// read of the data is an error after which the document is unusable.
func (pw *Writer) AddPage(img Image, wPt, hPt float64) error {
	if pw.closed {
		return ErrClosed
	}
	if pw.err != nil {
		return pw.err
	}
	if err := validate(img, wPt, hPt); err != nil {
		return err
	}
	base := firstPageObj + 3*pw.pages
	pw.begin(base)
	pw.printf("<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %s %s] /Resources << /XObject << /Im0 %d 0 R >> >> /Contents %d 0 R >>\nendobj\n",
		objPages, num(wPt), num(hPt), base+2, base+1)

	content := fmt.Sprintf("q %s 0 0 %s 0 0 cm /Im0 Do Q", num(wPt), num(hPt))
	pw.begin(base + 1)
	pw.printf("<< /Length %d >>\nstream\n%s\nendstream\nendobj\n", len(content), content)

	pw.begin(base + 2)
	pw.printf("<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /%s /BitsPerComponent %d /Filter /%s",
		img.Width, img.Height, img.ColorSpace, img.BitsPerComponent, img.Filter)
	if img.Filter == FilterCCITT {
		pw.printf(" /DecodeParms << /K -1 /Columns %d /Rows %d /BlackIs1 false >>", img.Width, img.Height)
	}
	pw.printf(" /Length %d >>\nstream\n", img.Length)
	if pw.err != nil {
		return pw.err
	}
	n, err := io.Copy(pw.bw, io.LimitReader(img.Data, img.Length))
	if err == nil && n != img.Length {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		pw.err = fmt.Errorf("pdfa: page %d image data: %w", pw.pages+1, err)
		return pw.err
	}
	pw.printf("\nendstream\nendobj\n")
	if pw.err != nil {
		return pw.err
	}
	pw.pages++
	return nil
}

// Pages returns the number of pages written so far.
func (pw *Writer) Pages() int { return pw.pages }

// Close writes the page tree, cross-reference table and trailer and flushes.
// It returns the number of bytes written and their SHA-256.
func (pw *Writer) Close() (int64, [32]byte, error) {
	var sum [32]byte
	if pw.closed {
		return 0, sum, ErrClosed
	}
	pw.closed = true
	if pw.err != nil {
		return 0, sum, pw.err
	}
	pw.begin(objPages)
	var kids strings.Builder
	for i := 0; i < pw.pages; i++ {
		if i > 0 {
			kids.WriteByte(' ')
		}
		fmt.Fprintf(&kids, "%d 0 R", firstPageObj+3*i)
	}
	pw.printf("<< /Type /Pages /Kids [%s] /Count %d >>\nendobj\n", kids.String(), pw.pages)

	xref := pw.offset()
	pw.printf("xref\n0 %d\n0000000000 65535 f\r\n", len(pw.offsets)+1)
	for _, off := range pw.offsets {
		pw.printf("%010d 00000 n\r\n", off)
	}
	id := hex.EncodeToString(pw.id)
	pw.printf("trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R /ID [<%s> <%s>] >>\nstartxref\n%d\n%%%%EOF\n",
		len(pw.offsets)+1, objCatalog, objInfo, id, id, xref)
	if pw.err == nil {
		pw.err = pw.bw.Flush()
	}
	if pw.err != nil {
		return 0, sum, pw.err
	}
	copy(sum[:], pw.cw.h.Sum(nil))
	return pw.cw.n, sum, nil
}

// num formats a coordinate with at most three decimals, as PDF reals.
func num(v float64) string {
	s := strconv.FormatFloat(v, 'f', 3, 64)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// pdfText encodes s as a PDF text string: UTF-16BE with BOM, as hex, so that
// any character (umlauts, parentheses) survives without escaping rules.
func pdfText(s string) string {
	var b strings.Builder
	b.WriteString("<FEFF")
	for _, u := range utf16.Encode([]rune(s)) {
		fmt.Fprintf(&b, "%04X", u)
	}
	b.WriteString(">")
	return b.String()
}

func pdfDate(t time.Time) string {
	return t.UTC().Format("D:20060102150405") + "+00'00'"
}

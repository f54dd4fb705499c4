package document

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"testing"

	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/kiosk/document/internal/testpage"
	"github.com/einwurf/einwurf/kiosk/document/pdfa"
)

// onePagePDF builds a PDF around a JPEG with our own writer, as a seed.
func onePagePDF(t testing.TB, jpg []byte, w, h int) []byte {
	var b bytes.Buffer
	pw, err := pdfa.NewWriter(&b, pdfa.Info{DocumentID: "00", Created: testMeta.Created})
	if err != nil {
		t.Fatal(err)
	}
	if err := pw.AddPage(pdfa.Image{Width: w, Height: h, ColorSpace: pdfa.DeviceGray, BitsPerComponent: 8, Filter: pdfa.FilterDCT, Length: int64(len(jpg)), Data: bytes.NewReader(jpg)}, float64(w), float64(h)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func smallJPEG(t testing.TB) []byte {
	g := testpage.Paper(50, 1).SubImage(image.Rect(0, 0, 120, 160)).(*image.Gray)
	c := image.NewGray(image.Rect(0, 0, 120, 160))
	for y := 0; y < 160; y++ {
		copy(c.Pix[y*c.Stride:], g.Pix[y*g.Stride:y*g.Stride+120])
	}
	b, err := testpage.JPEG(c, false, 50)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestExtractJPEG(t *testing.T) {
	jpg := smallJPEG(t)
	got, err := ExtractJPEG(onePagePDF(t, jpg, 120, 160))
	if err != nil || !bytes.Equal(got, jpg) {
		t.Fatalf("ExtractJPEG: %v (equal %v)", err, bytes.Equal(got, jpg))
	}
	// Indirect /Length, a name array filter, CRLF after stream.
	pdf := fmt.Sprintf("%%PDF-1.4\n1 0 obj\n<< /Type /XObject /Subtype /Image /Width 120 /Height 160 /Filter [/DCTDecode] /Length 2 0 R >>\nstream\r\n%s\nendstream\nendobj\n2 0 obj\n%d\nendobj\n", jpg, len(jpg))
	if got, err := ExtractJPEG([]byte(pdf)); err != nil || !bytes.Equal(got, jpg) {
		t.Fatalf("indirect length: %v", err)
	}
	// Missing length: endstream is searched.
	pdf = fmt.Sprintf("%%PDF-1.4\n1 0 obj\n<</Subtype/Image/Width 1/Height 1/Filter/DCTDecode>>\nstream\n%s\nendstream\nendobj\n", jpg)
	if got, err := ExtractJPEG([]byte(pdf)); err != nil || !bytes.Equal(got, jpg) {
		t.Fatalf("no length: %v", err)
	}
	for name, in := range map[string]string{
		"not pdf":   "GIF89a",
		"no image":  "%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
		"flate img": "%PDF-1.4\n1 0 obj\n<< /Subtype /Image /Width 1 /Height 1 /Filter /FlateDecode /Length 1 >>\nstream\nx\nendstream\nendobj\n",
		"deep":      "%PDF-1.4\n1 0 obj\n" + string(bytes.Repeat([]byte("[["), 5000)),
	} {
		if _, err := ExtractJPEG([]byte(in)); !errors.Is(err, ErrMalformedPage) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzExtractJPEG(f *testing.F) {
	jpg := smallJPEG(f)
	f.Add(onePagePDF(f, jpg, 120, 160))
	f.Add([]byte("%PDF-1.4\n1 0 obj\n<</Subtype/Image/Width 2 0 R/Height 1/Filter/DCTDecode/Length 2 0 R>>\nstream\nabc\nendstream\nendobj\n2 0 obj 3 endobj"))
	f.Add([]byte("%PDF-1.7\n1 0 obj (a\\)b(c)) endobj 2 0 obj <</A[1 2.5 -3 /N <ab> true null]>> endobj"))
	f.Add([]byte("not a pdf"))
	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		got, err := ExtractJPEG(data)
		if !bytes.Equal(in, data) {
			t.Fatal("input modified")
		}
		if err != nil {
			if !errors.Is(err, ErrMalformedPage) {
				t.Fatalf("error %v does not wrap ErrMalformedPage", err)
			}
			return
		}
		if len(got) == 0 || !bytes.Contains(data, got) {
			t.Fatal("result is not a part of the input")
		}
	})
}

// FuzzIngest feeds arbitrary bytes as a page of each format: Ingest must
// not panic, must fail with ErrMalformedPage or succeed, and on failure must
// leave the folder as it was.
func FuzzIngest(f *testing.F) {
	jpg := smallJPEG(f)
	f.Add(uint8(0), jpg)
	f.Add(uint8(0), jpg[:len(jpg)/2])
	f.Add(uint8(1), onePagePDF(f, jpg, 120, 160))
	bi, err := testpage.BilevelPNG(image.NewGray(image.Rect(0, 0, 100, 100)))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(2), bi)
	f.Add(uint8(2), []byte("\x89PNG\r\n\x1a\n"))
	formats := []string{scanner.FormatJPEG, scanner.FormatPDF, scanner.FormatPNG}
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		dir := t.TempDir()
		opt := DefaultOptions()
		opt.MaxPixels = 4_000_000 // keep each run quick
		p := page(formats[int(kind)%len(formats)], 1, scanner.Front, 50, data)
		pg, err := Ingest(context.Background(), dir, p, opt)
		if err != nil {
			if !errors.Is(err, ErrMalformedPage) {
				t.Fatalf("error %v does not wrap ErrMalformedPage", err)
			}
			if st := dirState(t, dir); len(st) != 0 {
				t.Fatalf("failed page left files: %v", st)
			}
			return
		}
		if st := dirState(t, dir); len(st) != 1 || pg.Width <= 0 || pg.Height <= 0 {
			t.Fatalf("page %+v, folder %v", pg, st)
		}
		// Whatever was accepted must build.
		var out bytes.Buffer
		if _, err := Build(context.Background(), &out, []Page{pg}, testMeta); err != nil {
			t.Fatalf("accepted page does not build: %v", err)
		}
	})
}

// FuzzJPEGSize checks the allocation-free header reader against the
// standard library: whenever both read a header they must agree.
func FuzzJPEGSize(f *testing.F) {
	jpg := smallJPEG(f)
	f.Add(jpg)
	f.Add(jpg[:40])
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xFF, 0xD0, 0xFF, 0xC0, 0, 11, 8, 0, 1, 0, 1, 1, 1, 0x11, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		w, h, comps, err := jpegSize(bufio.NewReader(bytes.NewReader(data)))
		cfg, jerr := jpeg.DecodeConfig(bytes.NewReader(data))
		if err == nil && jerr == nil && (w != cfg.Width || h != cfg.Height) {
			t.Fatalf("jpegSize %dx%d (%d), image/jpeg %dx%d", w, h, comps, cfg.Width, cfg.Height)
		}
	})
}

func TestExtractJPEGRejectsSeveralPages(t *testing.T) {
	jpg := smallJPEG(t)
	var b bytes.Buffer
	pw, _ := pdfa.NewWriter(&b, pdfa.Info{DocumentID: "00", Created: testMeta.Created})
	for i := 0; i < 2; i++ {
		pw.AddPage(pdfa.Image{Width: 120, Height: 160, ColorSpace: pdfa.DeviceGray, BitsPerComponent: 8, Filter: pdfa.FilterDCT, Length: int64(len(jpg)), Data: bytes.NewReader(jpg)}, 120, 160)
	}
	pw.Close()
	if _, err := ExtractJPEG(b.Bytes()); !errors.Is(err, ErrMalformedPage) {
		t.Errorf("two-page PDF: %v", err)
	}
}

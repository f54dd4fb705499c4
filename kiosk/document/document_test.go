package document

import (
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"image"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/kiosk/document/g4"
	"github.com/einwurf/einwurf/kiosk/document/internal/testpage"
	"github.com/einwurf/einwurf/kiosk/document/pdfa"
	fitz "github.com/gen2brain/go-fitz"
)

// bilevelFormat in a test table accepts either lossless bilevel format.
const bilevelFormat = "bilevel"

var testMeta = Meta{Title: "Einwurf test", DocumentID: "0123456789abcdef0123456789abcdef", Created: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC), Producer: "Einwurf test"}

// scannedSet is a duplex scan of three sheets in the formats scanners send:
// a colour JPEG letter with its blank back, a bilevel PNG page with a
// grey JPEG back holding one line, and a one-page PDF (made by img2pdf, a
// peer program) with a blank PNG back.
type scanned struct {
	p      *scanner.Page
	src    *image.Gray // what the page shows, for comparison
	blank  bool
	codes  []string
	format string
}

func scannedSet(t *testing.T) []scanned {
	t.Helper()
	const dpi = 150
	front1 := letter(t, dpi, "035F083761", 1)
	back1 := testpage.BlankBack(dpi, 2)
	front2 := letter(t, dpi, "03510//0961289", 3)
	// bilevel: the PNG is thresholded, so the source is too
	bi := image.NewGray(front2.Rect)
	for i, v := range front2.Pix {
		if v >= 128 {
			bi.Pix[i] = 255
		}
	}
	back2 := testpage.BlankBack(dpi, 4)
	testpage.Text(back2, dpi, 4, 1)
	front3 := letter(t, dpi, "03510BG0961289", 5)
	back3 := testpage.BlankBack(dpi, 6)
	bi3 := image.NewGray(back3.Rect)
	for i, v := range back3.Pix {
		if v >= 128 {
			bi3.Pix[i] = 255
		}
	}

	// The PDF page comes from img2pdf when installed; its output is what
	// real PDF-producing software looks like.
	jpg3 := mustJPEG(t, front3, true)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jpg")
	os.WriteFile(in, jpg3, 0o600)
	out := filepath.Join(dir, "in.pdf")
	if o, err := run(t, "img2pdf", "-o", out, in); err != nil {
		t.Fatalf("img2pdf: %v %s", err, o)
	}
	pdf3, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return []scanned{
		{page(scanner.FormatJPEG, 1, scanner.Front, dpi, mustJPEG(t, front1, true)), front1, false, []string{"035F083761"}, scanner.FormatJPEG},
		{page(scanner.FormatJPEG, 1, scanner.Back, dpi, mustJPEG(t, back1, false)), back1, true, nil, scanner.FormatJPEG},
		{page(scanner.FormatPNG, 2, scanner.Front, dpi, mustPNG(t, front2)), bi, false, []string{"03510//0961289"}, bilevelFormat},
		{page(scanner.FormatJPEG, 2, scanner.Back, dpi, mustJPEG(t, back2, false)), back2, false, nil, scanner.FormatJPEG},
		{page(scanner.FormatPDF, 3, scanner.Front, dpi, pdf3), front3, false, []string{"03510BG0961289"}, scanner.FormatJPEG},
		{page(scanner.FormatPNG, 3, scanner.Back, dpi, mustPNG(t, back3)), bi3, true, nil, bilevelFormat},
	}
}

func TestIngestBuildCheckRender(t *testing.T) {
	set := scannedSet(t)
	dir := t.TempDir()
	var pages []Page
	for i, s := range set {
		pg, err := Ingest(context.Background(), dir, s.p, DefaultOptions())
		if err != nil {
			t.Fatalf("page %d: %v", i, err)
		}
		if pg.Format != s.format && !(s.format == bilevelFormat && (pg.Format == FormatG4 || pg.Format == FormatFlateBilevel)) {
			t.Errorf("page %d: format %q, want %q", i, pg.Format, s.format)
		}
		if pg.Blank != s.blank {
			t.Errorf("page %d: blank %v (ink %.5f), want %v", i, pg.Blank, pg.Ink, s.blank)
		}
		var got []string
		for _, c := range pg.Codes {
			got = append(got, c.Text)
		}
		for _, want := range s.codes {
			if !strings.Contains(strings.Join(got, "\n"), want) {
				t.Errorf("page %d: codes %v, want %q", i, got, want)
			}
		}
		if len(s.codes) == 0 && len(got) != 0 {
			t.Errorf("page %d: unexpected codes %v", i, got)
		}
		if pg.Width != s.src.Rect.Dx() || pg.Height != s.src.Rect.Dy() || pg.Resolution != 150 {
			t.Errorf("page %d: %dx%d @%d", i, pg.Width, pg.Height, pg.Resolution)
		}
		if name := filepath.Base(pg.Path); strings.ContainsAny(name, "0123456789") && !strings.HasPrefix(name, "sheet-") {
			t.Errorf("page file name %q", name)
		}
		pages = append(pages, pg)
	}
	// only the page files are left in the folder
	if st := dirState(t, dir); len(st) != len(set) {
		t.Errorf("folder holds %d files, want %d: %v", len(st), len(set), st)
	}
	if got := CodeTexts(pages); len(got) != 3 || got[0] != "035F083761" {
		t.Errorf("CodeTexts = %v", got)
	}

	kept, st := DropBlanks(pages)
	if st.Scanned != 6 || st.Kept != 4 || len(st.Removed) != 2 || st.Removed[0] != 1 || st.Removed[1] != 5 {
		t.Errorf("DropBlanks stats %+v", st)
	}
	srcs := []*image.Gray{set[0].src, set[2].src, set[3].src, set[4].src}

	pdf := filepath.Join(t.TempDir(), "doc.pdf")
	f, err := os.Create(pdf)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := Build(context.Background(), f, kept, testMeta)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	data, _ := os.ReadFile(pdf)
	if sum.Pages != 4 || sum.Bytes != int64(len(data)) || sum.SHA256 != sha(data) {
		t.Errorf("summary %+v does not match the file (%d bytes)", sum, len(data))
	}
	a4 := [2]float64{float64(kept[0].Width) * 72 / 150, float64(kept[0].Height) * 72 / 150}
	checkPDF(t, pdf, [][2]float64{a4, a4, a4, a4})

	// Render every page with MuPDF (go-fitz) at the scan resolution and
	// compare with what was scanned.
	doc, err := fitz.New(pdf)
	if err != nil {
		t.Fatal(err)
	}
	defer doc.Close()
	if doc.NumPage() != 4 {
		t.Fatalf("go-fitz sees %d pages", doc.NumPage())
	}
	for i := 0; i < doc.NumPage(); i++ {
		img, err := doc.ImageDPI(i, 150)
		if err != nil {
			t.Fatal(err)
		}
		src := srcs[i]
		if img.Rect.Dx() != src.Rect.Dx() || img.Rect.Dy() != src.Rect.Dy() {
			t.Fatalf("page %d rendered %v, scanned %v", i, img.Rect, src.Rect)
		}
		var diff, worst int
		for y := 0; y < src.Rect.Dy(); y++ {
			for x := 0; x < src.Rect.Dx(); x++ {
				d := int(img.Pix[y*img.Stride+4*x+1]) - int(src.Pix[y*src.Stride+x])
				d = max(d, -d)
				diff += d
				worst = max(worst, d)
			}
		}
		mean := float64(diff) / float64(src.Rect.Dx()*src.Rect.Dy())
		if (kept[i].Format == FormatG4 || kept[i].Format == FormatFlateBilevel) && diff != 0 {
			t.Errorf("page %d (%s): rendering differs from the bitmap (sum %d)", i, kept[i].Format, diff)
		}
		// JPEG: only the difference of two decoders' IDCT and the
		// tint's colour conversion.
		if mean > 3 {
			t.Errorf("page %d: mean difference %.2f (worst %d)", i, mean, worst)
		}
	}

	// Thumbnails from the PDF as built.
	thumbs, err := Thumbnails(pdf, ThumbWidth)
	if err != nil || len(thumbs) != 4 {
		t.Fatalf("Thumbnails: %d, %v", len(thumbs), err)
	}
	one, err := Thumbnail(pdf, 2, 200)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range append(thumbs, one) {
		cfg, err := png.DecodeConfig(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		want := ThumbWidth
		if i == 4 {
			want = 200
		}
		if cfg.Width < want-1 || cfg.Width > want+1 || cfg.Height < cfg.Width*14/10 || cfg.Height > cfg.Width*143/100 {
			t.Errorf("thumbnail %d is %dx%d, want %d wide A4", i, cfg.Width, cfg.Height, want)
		}
	}
	for _, bad := range []int{-1, 4} {
		if _, err := Thumbnail(pdf, bad, 200); !errors.Is(err, ErrBadThumb) {
			t.Errorf("Thumbnail page %d: %v", bad, err)
		}
	}
	if _, err := Thumbnail(pdf, 0, 1); !errors.Is(err, ErrBadThumb) {
		t.Errorf("Thumbnail width 1: %v", err)
	}
	if _, err := Thumbnail(filepath.Join(dir, "missing.pdf"), 0, 200); err == nil {
		t.Error("Thumbnail of a missing file succeeded")
	}
}

func TestBuildIsDeterministicAndStreams300dpi(t *testing.T) {
	dir := t.TempDir()
	g := letter(t, 300, "035F083761", 9)
	pg, err := Ingest(context.Background(), dir, page(scanner.FormatJPEG, 1, scanner.Front, 300, mustJPEG(t, g, true)), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	sa, err := Build(context.Background(), &a, []Page{pg, pg}, testMeta)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := Build(context.Background(), &b, []Page{pg, pg}, testMeta)
	if err != nil || sa != sb || !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatalf("two builds differ: %v", err)
	}
	// The JPEG is embedded byte for byte, not re-encoded.
	jpg, _ := os.ReadFile(pg.Path)
	if bytes.Count(a.Bytes(), jpg) != 2 {
		t.Error("JPEG bytes not embedded as they are")
	}
	pdf := filepath.Join(dir, "a.pdf")
	os.WriteFile(pdf, a.Bytes(), 0o600)
	// A4 at 300 dpi: 2480x3508 px = 595.2x841.92 pt
	checkPDF(t, pdf, [][2]float64{{595.2, 841.92}, {595.2, 841.92}})
}

func sha(b []byte) [32]byte {
	return sha256sum(b)
}

func TestMalformedPagesLoseOnlyThemselves(t *testing.T) {
	dir := t.TempDir()
	good := letter(t, 150, "035F083761", 1)
	first, err := Ingest(context.Background(), dir, page(scanner.FormatJPEG, 1, scanner.Front, 150, mustJPEG(t, good, true)), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	before := dirState(t, dir)
	jpg := mustJPEG(t, good, false)
	tiny := image.NewGray(image.Rect(0, 0, 4, 4))
	var tinyJPG, longJPG bytes.Buffer
	jpeg.Encode(&tinyJPG, tiny, nil)
	jpeg.Encode(&longJPG, image.NewGray(image.Rect(0, 0, 60000, 40)), nil)
	bad := map[string]*scanner.Page{
		"truncated jpeg":    page(scanner.FormatJPEG, 1, scanner.Back, 150, jpg[:len(jpg)/2]),
		"not a jpeg":        page(scanner.FormatJPEG, 1, scanner.Back, 150, []byte("hello")),
		"pdf that is not":   page(scanner.FormatPDF, 1, scanner.Back, 150, []byte("%PDF-1.4\n this is not a pdf at all")),
		"html as pdf":       page(scanner.FormatPDF, 1, scanner.Back, 150, []byte("<html>error 500</html>")),
		"tiny page":         page(scanner.FormatJPEG, 1, scanner.Back, 150, tinyJPG.Bytes()),
		"absurd page size":  page(scanner.FormatJPEG, 1, scanner.Back, 150, longJPG.Bytes()),
		"no resolution png": page(scanner.FormatPNG, 1, scanner.Back, 0, mustPNG(t, good)),
		"absurd resolution": page(scanner.FormatJPEG, 1, scanner.Back, 1, jpg),
		"truncated png":     page(scanner.FormatPNG, 1, scanner.Back, 150, mustPNG(t, good)[:2000]),
		"empty":             page(scanner.FormatJPEG, 1, scanner.Back, 150, nil),
		"unknown format":    page("image/tiff", 1, scanner.Back, 150, jpg),
		"sheet zero":        page(scanner.FormatJPEG, 0, scanner.Back, 150, jpg),
		"nil body":          {Format: scanner.FormatJPEG, Sheet: 1, Resolution: 150},
	}
	opt := DefaultOptions()
	opt.MaxPageBytes = 1 << 20
	bad["too large"] = page(scanner.FormatJPEG, 1, scanner.Back, 150, make([]byte, 2<<20))
	for name, p := range bad {
		pg, err := Ingest(context.Background(), dir, p, opt)
		if !errors.Is(err, ErrMalformedPage) {
			t.Errorf("%s: err %v, want ErrMalformedPage", name, err)
		}
		if pg.Path != "" {
			t.Errorf("%s: returned a page", name)
		}
		after := dirState(t, dir)
		if len(after) != len(before) || after[filepath.Base(first.Path)] != before[filepath.Base(first.Path)] {
			t.Fatalf("%s: folder changed: %v -> %v", name, before, after)
		}
	}
	// The document still builds from the good page.
	var out bytes.Buffer
	if s, err := Build(context.Background(), &out, []Page{first}, testMeta); err != nil || s.Pages != 1 {
		t.Fatalf("Build after bad pages: %v", err)
	}
}

func TestBuildErrors(t *testing.T) {
	var out bytes.Buffer
	if _, err := Build(context.Background(), &out, nil, testMeta); !errors.Is(err, ErrNoPages) {
		t.Errorf("no pages: %v", err)
	}
	dir := t.TempDir()
	pg, err := Ingest(context.Background(), dir, page(scanner.FormatJPEG, 1, scanner.Front, 150, mustJPEG(t, testpage.Paper(150, 1), true)), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	swapped := pg
	swapped.Width++
	if _, err := Build(context.Background(), &out, []Page{swapped}, testMeta); !errors.Is(err, ErrPageFile) {
		t.Errorf("changed page: %v", err)
	}
	gone := pg
	gone.Path = filepath.Join(dir, "gone.jpg")
	if _, err := Build(context.Background(), &out, []Page{gone}, testMeta); err == nil {
		t.Error("missing page file built")
	}
	m := testMeta
	m.DocumentID = "not hex"
	if _, err := Build(context.Background(), &out, []Page{pg}, m); err == nil {
		t.Error("bad document id accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Build(ctx, &out, []Page{pg}, testMeta); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestResolutionFromJFIF(t *testing.T) {
	// Go's encoder writes no density; patch a JFIF header in.
	g := testpage.Paper(150, 1)
	jpg := mustJPEG(t, g, false)
	app0 := []byte{0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 1, 0, 150, 0, 150, 0, 0}
	withJFIF := append(append([]byte{0xFF, 0xD8}, app0...), jpg[2:]...)
	pg, err := Ingest(context.Background(), t.TempDir(), page(scanner.FormatJPEG, 1, scanner.Front, 0, withJFIF), DefaultOptions())
	if err != nil || pg.Resolution != 150 {
		t.Fatalf("resolution %d, %v", pg.Resolution, err)
	}
	if _, err := Ingest(context.Background(), t.TempDir(), page(scanner.FormatJPEG, 1, scanner.Front, 0, jpg), DefaultOptions()); !errors.Is(err, ErrMalformedPage) {
		t.Errorf("no resolution anywhere: %v", err)
	}
}

// pdfWith wraps an encoded image in a one-page PDF with our writer, as a
// scanner in black-and-white or lossless mode would deliver it.
func pdfWith(t *testing.T, img pdfa.Image, data []byte, dpi int, pages int) []byte {
	t.Helper()
	var b bytes.Buffer
	pw, err := pdfa.NewWriter(&b, pdfa.Info{DocumentID: "01", Created: testMeta.Created})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < pages; i++ {
		img.Length, img.Data = int64(len(data)), bytes.NewReader(data)
		if err := pw.AddPage(img, float64(img.Width)*72/float64(dpi), float64(img.Height)*72/float64(dpi)); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestIngestPDFWithoutJPEG(t *testing.T) {
	const dpi = 150
	src := letter(t, dpi, "035F083761", 11)
	bm := g4.NewBitmap(src.Rect.Dx(), src.Rect.Dy())
	for y := 0; y < bm.Height; y++ {
		for x := 0; x < bm.Width; x++ {
			bm.Set(x, y, src.Pix[y*src.Stride+x] < 128)
		}
	}
	var enc bytes.Buffer
	if err := g4.Encode(&enc, bm); err != nil {
		t.Fatal(err)
	}
	ccitt := pdfa.Image{Width: bm.Width, Height: bm.Height, ColorSpace: pdfa.DeviceGray, BitsPerComponent: 1, Filter: pdfa.FilterCCITT}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(src.Pix)
	zw.Close()
	flate := pdfa.Image{Width: src.Rect.Dx(), Height: src.Rect.Dy(), ColorSpace: pdfa.DeviceGray, BitsPerComponent: 8, Filter: pdfa.FilterFlate}

	dir := t.TempDir()
	pg, err := Ingest(context.Background(), dir, page(scanner.FormatPDF, 1, scanner.Front, dpi, pdfWith(t, ccitt, enc.Bytes(), dpi, 1)), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if pg.Format != FormatFlateBilevel && pg.Format != FormatG4 || pg.Width != bm.Width || pg.Height != bm.Height || pg.Blank || len(pg.Codes) != 2 {
		t.Fatalf("CCITT PDF page: %+v", pg)
	}
	pg2, err := Ingest(context.Background(), dir, page(scanner.FormatPDF, 2, scanner.Front, dpi, pdfWith(t, flate, z.Bytes(), dpi, 1)), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if pg2.Format != FormatFlateGray || pg2.Width != src.Rect.Dx() || len(pg2.Codes) != 2 {
		t.Fatalf("Flate PDF page: %+v", pg2)
	}
	pdf := filepath.Join(dir, "out.pdf")
	f, _ := os.Create(pdf)
	if _, err := Build(context.Background(), f, []Page{pg, pg2}, testMeta); err != nil {
		t.Fatal(err)
	}
	f.Close()
	a4 := [2]float64{float64(pg.Width) * 72 / dpi, float64(pg.Height) * 72 / dpi}
	checkPDF(t, pdf, [][2]float64{a4, a4})
	// The bilevel page went through MuPDF and back losslessly.
	if bad := renderDiffersFromBitmap(t, pdf, 0, dpi, bm); bad != 0 {
		t.Errorf("CCITT page: %d pixels differ after the round trip", bad)
	}

	before := dirState(t, dir)
	_, err = Ingest(context.Background(), dir, page(scanner.FormatPDF, 3, scanner.Front, dpi, pdfWith(t, ccitt, enc.Bytes(), dpi, 2)), DefaultOptions())
	if !errors.Is(err, ErrMalformedPage) {
		t.Errorf("two-page PDF: %v", err)
	}
	if after := dirState(t, dir); len(after) != len(before) {
		t.Errorf("failed PDF page left files")
	}
}

// renderDiffersFromBitmap draws page i of the PDF with go-fitz at dpi and
// counts the pixels whose black/white differs from bm.
func renderDiffersFromBitmap(t *testing.T, pdf string, i, dpi int, bm *g4.Bitmap) int {
	t.Helper()
	doc, err := fitz.New(pdf)
	if err != nil {
		t.Fatal(err)
	}
	defer doc.Close()
	img, err := doc.ImageDPI(i, float64(dpi))
	if err != nil {
		t.Fatal(err)
	}
	if img.Rect.Dx() != bm.Width || img.Rect.Dy() != bm.Height {
		t.Fatalf("rendered %v, bitmap %dx%d", img.Rect, bm.Width, bm.Height)
	}
	bad := 0
	for y := 0; y < bm.Height; y++ {
		for x := 0; x < bm.Width; x++ {
			if (img.Pix[y*img.Stride+4*x] < 128) != bm.Black(x, y) {
				bad++
			}
		}
	}
	return bad
}

// TestBilevelTakesTheSmallerEncoding: a page with straight synthetic edges
// compresses better with Flate, a page fed askew (staircase edges, as real
// scans have) with G4; either way the page is stored losslessly.
func TestBilevelTakesTheSmallerEncoding(t *testing.T) {
	const dpi = 300
	g := letter(t, dpi, "035F083761", 21)
	for _, c := range []struct {
		deg  float64
		want string
	}{{0, FormatFlateBilevel}, {1.5, FormatG4}} {
		src := testpage.Rotate(g, c.deg)
		bm := g4.NewBitmap(src.Rect.Dx(), src.Rect.Dy())
		for y := 0; y < bm.Height; y++ {
			for x := 0; x < bm.Width; x++ {
				bm.Set(x, y, src.Pix[y*src.Stride+x] < 128)
			}
		}
		var enc, z bytes.Buffer
		if err := g4.Encode(&enc, bm); err != nil {
			t.Fatal(err)
		}
		if err := writeFlateBits(&z, bm); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		pg, err := Ingest(context.Background(), dir, page(scanner.FormatPNG, 1, scanner.Front, dpi, mustPNG(t, src)), DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(pg.Path)
		if err != nil {
			t.Fatal(err)
		}
		if pg.Format != c.want || st.Size() != int64(min(enc.Len(), z.Len())) {
			t.Errorf("%.1f°: stored %s of %d bytes; G4 %d, Flate %d", c.deg, pg.Format, st.Size(), enc.Len(), z.Len())
		}
		pdf := filepath.Join(dir, "out.pdf")
		f, _ := os.Create(pdf)
		if _, err := Build(context.Background(), f, []Page{pg}, testMeta); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if bad := renderDiffersFromBitmap(t, pdf, 0, dpi, bm); bad != 0 {
			t.Errorf("%.1f°: %d pixels differ", c.deg, bad)
		}
	}
}

func TestIngestRefusesBadOptions(t *testing.T) {
	jpg := mustJPEG(t, testpage.Paper(150, 1), false)
	for _, o := range []Options{{}, {MaxPageBytes: 1 << 20}, func() Options { o := DefaultOptions(); o.BlankThreshold = 2; return o }()} {
		dir := t.TempDir()
		if _, err := Ingest(context.Background(), dir, page(scanner.FormatJPEG, 1, scanner.Front, 150, jpg), o); !errors.Is(err, ErrBadOptions) {
			t.Errorf("%+v: %v", o, err)
		}
		if len(dirState(t, dir)) != 0 {
			t.Error("bad options left a file")
		}
	}
}

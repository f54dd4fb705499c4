package document

import (
	"bytes"
	"context"
	"crypto/sha256"
	"image"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/kiosk/document/internal/testpage"
)

// run runs a program with a time limit and returns its combined output.
func run(t testing.TB, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, testpage.NeedTool(t, name), args...).CombinedOutput()
	return string(out), err
}

// page wraps encoded bytes as a scanner page.
func page(format string, sheet int, side scanner.Side, dpi int, data []byte) *scanner.Page {
	return &scanner.Page{Format: format, Sheet: sheet, Side: side, Resolution: dpi, Body: io.NopCloser(bytes.NewReader(data))}
}

func mustJPEG(t testing.TB, g *image.Gray, colour bool) []byte {
	t.Helper()
	b, err := testpage.JPEG(g, colour, 85)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustPNG(t testing.TB, g *image.Gray) []byte {
	t.Helper()
	b, err := testpage.BilevelPNG(g)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func letter(t testing.TB, dpi int, code string, seed uint64) *image.Gray {
	t.Helper()
	g, err := testpage.Letter(dpi, code, true, seed)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// dirState maps each file name in dir to the SHA-256 of its content.
func dirState(t testing.TB, dir string) map[string][32]byte {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][32]byte{}
	for _, e := range es {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = sha256.Sum256(b)
	}
	return m
}

// checkPDF runs qpdf --check and pdfinfo on the PDF at path and verifies
// page count, every page's size in points and the PDF/A identification in
// the XMP metadata.
func checkPDF(t *testing.T, path string, sizes [][2]float64) {
	t.Helper()
	if out, err := run(t, "qpdf", "--check", path); err != nil || !strings.Contains(out, "No syntax or stream encoding errors") || strings.Contains(out, "WARNING") {
		t.Fatalf("qpdf --check: %v\n%s", err, out)
	}
	out, err := run(t, "pdfinfo", "-f", "1", "-l", "99999", path)
	if err != nil {
		t.Fatalf("pdfinfo: %v\n%s", err, out)
	}
	if strings.Contains(out, "Syntax Error") || strings.Contains(out, "Syntax Warning") {
		t.Fatalf("pdfinfo complains:\n%s", out)
	}
	if !strings.Contains(out, "Pages:") || !strings.Contains(out, "Encrypted:       no") {
		t.Fatalf("pdfinfo output:\n%s", out)
	}
	var pages int
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "Pages:") {
			pages = atoi(strings.TrimSpace(strings.TrimPrefix(line, "Pages:")))
		}
	}
	if pages != len(sizes) {
		t.Fatalf("pdfinfo: %d pages, want %d", pages, len(sizes))
	}
	for i, s := range sizes {
		want := "Page " + pad(i+1) + " size:  " + fmt2(s[0]) + " x " + fmt2(s[1]) + " pts"
		if !strings.Contains(out, want) {
			t.Errorf("pdfinfo: missing %q in\n%s", want, out)
		}
	}
	// mutool draws every page and must have nothing to complain about
	// (except that Debian's build lacks colour management, which is about
	// mutool, not the file).
	out, err = run(t, "mutool", "draw", "-q", "-r", "20", "-o", filepath.Join(t.TempDir(), "p%d.png"), path)
	if err != nil {
		t.Fatalf("mutool draw: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line != "" && !strings.Contains(line, "ICC support is not available") {
			t.Fatalf("mutool draw: %s", out)
		}
	}
	meta, err := run(t, "pdfinfo", "-meta", path)
	if err != nil {
		t.Fatalf("pdfinfo -meta: %v", err)
	}
	for _, want := range []string{"<pdfaid:part>2</pdfaid:part>", "<pdfaid:conformance>B</pdfaid:conformance>", "<xmpMM:DocumentID>"} {
		if !strings.Contains(meta, want) {
			t.Errorf("XMP lacks %s:\n%s", want, meta)
		}
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// pad formats a page number as pdfinfo does (right-aligned in four).
func pad(n int) string {
	s := strconv.Itoa(n)
	for len(s) < 4 {
		s = " " + s
	}
	return s
}

// fmt2 formats points as pdfinfo does: up to two decimals, trailing zeros
// dropped.
func fmt2(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

func sha256sum(b []byte) [32]byte { return sha256.Sum256(b) }

package g4

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/einwurf/einwurf/kiosk/document/internal/testpage"
	"github.com/einwurf/einwurf/kiosk/document/pdfa"
)

// testBitmaps returns bitmaps that exercise every coding mode: runs longer
// than 2560, widths not a multiple of 8, black at both edges, dense noise
// and text-like blocks.
func testBitmaps() map[string]*Bitmap {
	r := rand.New(rand.NewPCG(1, 2))
	m := map[string]*Bitmap{}

	b := NewBitmap(37, 11)
	m["allwhite"] = b

	b = NewBitmap(29, 7)
	for y := 0; y < b.Height; y++ {
		for x := 0; x < b.Width; x++ {
			b.Set(x, y, true)
		}
	}
	m["allblack"] = b

	b = NewBitmap(301, 97)
	for y := 0; y < b.Height; y++ {
		for x := 0; x < b.Width; x++ {
			b.Set(x, y, r.IntN(2) == 0)
		}
	}
	m["noise"] = b

	b = NewBitmap(6000, 40) // runs beyond 2560 need repeated make-up codes
	for y := 0; y < b.Height; y++ {
		for x := 0; x < b.Width; x++ {
			b.Set(x, y, (x > 3000 && x < 5900 && y%3 != 0) || x == 0 || x == b.Width-1)
		}
	}
	m["wide"] = b

	b = NewBitmap(619, 400)
	for k := 0; k < 300; k++ {
		x0, y0 := r.IntN(600), r.IntN(390)
		w, h := 1+r.IntN(20), 1+r.IntN(10)
		for y := y0; y < min(y0+h, b.Height); y++ {
			for x := x0; x < min(x0+w, b.Width); x++ {
				b.Set(x, y, true)
			}
		}
	}
	// diagonal lines give vertical-mode codes of every offset
	for y := 0; y < b.Height; y++ {
		for d := 0; d < 4; d++ {
			x := (y*(d+1) + 13*d) % b.Width
			b.Set(x, y, true)
		}
	}
	m["text"] = b

	// Every run length 0..2600 of both colours, in horizontal mode: each
	// row is black at x=0, then white for l pixels, then black to the end,
	// and follows an all-white row so that vertical mode cannot apply.
	const w = 2700
	b = NewBitmap(w, 2*2601)
	for l := 0; l <= 2600; l++ {
		y := 2*l + 1
		b.Set(0, y, true)
		for x := 1 + l; x < w; x++ {
			b.Set(x, y, true)
		}
	}
	m["allruns"] = b
	return m
}

// renderGray renders page 1 of pdf at 72 dpi with mutool as 8-bit grey.
func renderGray(t *testing.T, pdf string) (w, h int, pix []byte) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "page.pgm")
	cmd := exec.Command(testpage.NeedTool(t, "mutool"), "draw", "-q", "-r", "72", "-A", "0", "-c", "gray", "-o", out, pdf, "1")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mutool draw: %v\n%s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	// PGM: "P5\n<w> <h>\n255\n" then pixels.
	fields := bytes.Fields(data[:min(len(data), 40)])
	if len(fields) < 4 || string(fields[0]) != "P5" {
		t.Fatalf("unexpected PGM header %q", data[:min(len(data), 20)])
	}
	w, _ = strconv.Atoi(string(fields[1]))
	h, _ = strconv.Atoi(string(fields[2]))
	pix = data[len(data)-w*h:]
	return w, h, pix
}

// TestEncodeRendersIdentically encodes bitmaps, wraps them in a PDF at one
// pixel per point and checks that MuPDF decodes every pixel as the source.
func TestEncodeRendersIdentically(t *testing.T) {
	testpage.NeedTool(t, "mutool")
	for name, bm := range testBitmaps() {
		t.Run(name, func(t *testing.T) {
			var g4 bytes.Buffer
			if err := Encode(&g4, bm); err != nil {
				t.Fatal(err)
			}
			pdf := filepath.Join(t.TempDir(), "g4.pdf")
			f, err := os.Create(pdf)
			if err != nil {
				t.Fatal(err)
			}
			pw, err := pdfa.NewWriter(f, pdfa.Info{Title: name, DocumentID: "00112233445566778899aabbccddeeff", Created: time.Unix(0, 0), Producer: "g4 test"})
			if err != nil {
				t.Fatal(err)
			}
			err = pw.AddPage(pdfa.Image{Width: bm.Width, Height: bm.Height, ColorSpace: pdfa.DeviceGray, BitsPerComponent: 1,
				Filter: pdfa.FilterCCITT, Length: int64(g4.Len()), Data: &g4}, float64(bm.Width), float64(bm.Height))
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := pw.Close(); err != nil {
				t.Fatal(err)
			}
			f.Close()
			w, h, pix := renderGray(t, pdf)
			if w != bm.Width || h != bm.Height {
				t.Fatalf("rendered %dx%d, want %dx%d", w, h, bm.Width, bm.Height)
			}
			bad := 0
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					if (pix[y*w+x] < 128) != bm.Black(x, y) {
						if bad < 5 {
							t.Errorf("pixel (%d,%d) differs", x, y)
						}
						bad++
					}
				}
			}
			if bad > 0 {
				t.Fatalf("%d pixels differ", bad)
			}
		})
	}
}

func TestEncodeRejectsBadBitmap(t *testing.T) {
	for _, b := range []*Bitmap{nil, {Width: 0, Height: 1, Stride: 1, Pix: []byte{0}}, {Width: 16, Height: 2, Stride: 1, Pix: make([]byte, 2)}, {Width: 8, Height: 3, Stride: 1, Pix: make([]byte, 2)}} {
		var out bytes.Buffer
		if err := Encode(&out, b); err != ErrBadBitmap {
			t.Errorf("Encode(%+v) = %v, want ErrBadBitmap", b, err)
		}
		if out.Len() != 0 {
			t.Errorf("wrote %d bytes for a bad bitmap", out.Len())
		}
	}
}

// A4 at 300 dpi with text-like blocks, for the benchmark.
func a4Text() *Bitmap {
	b := NewBitmap(2480, 3508)
	r := rand.New(rand.NewPCG(3, 4))
	for line := 0; line < 60; line++ {
		y0 := 250 + line*50
		for x := 200; x < 2280; {
			wlen := 20 + r.IntN(120)
			for y := y0; y < y0+28; y++ {
				for xx := x; xx < min(x+wlen, 2280); xx++ {
					if r.IntN(3) > 0 {
						b.Set(xx, y, true)
					}
				}
			}
			x += wlen + 25
		}
	}
	return b
}

func BenchmarkEncodeA4(b *testing.B) {
	bm := a4Text()
	var n int
	for b.Loop() {
		var out bytes.Buffer
		if err := Encode(&out, bm); err != nil {
			b.Fatal(err)
		}
		n = out.Len()
	}
	b.ReportMetric(float64(n)/1024, "KB/page")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pages/s")
}

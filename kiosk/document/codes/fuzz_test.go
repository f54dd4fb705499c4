package codes

import (
	"context"
	"image"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/einwurf/einwurf/kiosk/document/internal/testpage"
)

// FuzzDetect runs barcode detection on page images directly: a small page
// with a Data Matrix code, whose pixels the fuzzer changes (and whose size
// and resolution it picks). Detect never panics, returns in bounded time,
// and every code it returns has a symbology and valid UTF-8 text.
func FuzzDetect(f *testing.F) {
	g := image.NewGray(image.Rect(0, 0, 240, 240))
	for i := range g.Pix {
		g.Pix[i] = 0xf0
	}
	if err := testpage.DataMatrix(g, "035F083761", 40, 40, 6); err != nil {
		f.Fatal(err)
	}
	f.Add(g.Pix, uint16(240), uint16(150))
	f.Add(g.Pix[:240*120], uint16(240), uint16(300))
	f.Add([]byte{0, 255, 0, 255}, uint16(2), uint16(600))
	f.Fuzz(func(t *testing.T, pix []byte, width, dpi uint16) {
		w := int(width)%320 + 1
		h := min(len(pix)/w, 320)
		if h < 1 {
			return
		}
		img := &image.Gray{Pix: pix[:w*h], Stride: w, Rect: image.Rect(0, 0, w, h)}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		codes, err := Detect(ctx, img, int(dpi))
		if err != nil {
			return
		}
		for _, c := range codes {
			if c.Symbology == "" || !utf8.ValidString(c.Text) {
				t.Fatalf("code %+v", c)
			}
		}
	})
}

package jpegdec

import (
	"bytes"
	"image/jpeg"
	"testing"

	"github.com/einwurf/einwurf/internal/testtool"
	"github.com/einwurf/einwurf/kiosk/document/internal/testpage"
)

// BenchmarkDecode compares decoding a 300 dpi A4 colour page for analysis
// (coefficients, luminance at half scale) with image/jpeg's full decode.
func BenchmarkDecode(b *testing.B) {
	g, err := testpage.Letter(300, "035F083761", true, 1)
	if err != nil {
		b.Fatal(err)
	}
	data, err := testpage.JPEG(g, true, 90)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("half", func(b *testing.B) {
		c0 := testtool.CPUTime()
		defer func() { b.ReportMetric(float64((testtool.CPUTime()-c0).Microseconds())/1000/float64(b.N), "cpu-ms/op") }()
		for b.Loop() {
			im, err := DecodeHalf(data)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := im.Gray(2); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("image-jpeg", func(b *testing.B) {
		c0 := testtool.CPUTime()
		defer func() { b.ReportMetric(float64((testtool.CPUTime()-c0).Microseconds())/1000/float64(b.N), "cpu-ms/op") }()
		for b.Loop() {
			if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

package escl

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"
)

func encoded(t testing.TB, w, h int, asPNG bool) []byte {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	img.Set(0, 0, color.Gray{Y: 7})
	var b bytes.Buffer
	var err error
	if asPNG {
		err = png.Encode(&b, img)
	} else {
		err = jpeg.Encode(&b, img, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestImageSize(t *testing.T) {
	j := encoded(t, 123, 45, false)
	if w, h, ok := jpegSize(j); !ok || w != 123 || h != 45 {
		t.Errorf("jpegSize = %d %d %v", w, h, ok)
	}
	// An APP segment before the frame, as EXIF-writing scanners send.
	withApp := append([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x06, 'E', 'x', 'i', 'f'}, j[2:]...)
	if w, h, ok := jpegSize(withApp); !ok || w != 123 || h != 45 {
		t.Errorf("jpegSize after APP1 = %d %d %v", w, h, ok)
	}
	if _, _, ok := jpegSize(j[:10]); ok {
		t.Error("truncated JPEG gave a size")
	}
	p := encoded(t, 77, 99, true)
	if w, h, ok := pngSize(p); !ok || w != 77 || h != 99 {
		t.Errorf("pngSize = %d %d %v", w, h, ok)
	}
	if _, _, ok := pngSize(p[:20]); ok {
		t.Error("truncated PNG gave a size")
	}
}

func FuzzImageSize(f *testing.F) {
	f.Add(encoded(f, 10, 20, false))
	f.Add(encoded(f, 10, 20, true))
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x01})
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xFF, 0xFF})
	f.Fuzz(func(t *testing.T, data []byte) {
		if w, h, ok := jpegSize(data); ok && (w <= 0 || h <= 0) {
			t.Fatalf("jpegSize ok with %dx%d", w, h)
		}
		if w, h, ok := pngSize(data); ok && (w <= 0 || h <= 0) {
			t.Fatalf("pngSize ok with %dx%d", w, h)
		}
	})
}

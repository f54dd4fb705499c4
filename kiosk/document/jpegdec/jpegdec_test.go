package jpegdec

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/einwurf/einwurf/internal/testtool"
)

// picture is a test image with edges, gradients and noise, in colour.
func picture(w, h int, seed uint64) *image.RGBA {
	r := rand.New(rand.NewPCG(seed, 1))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := uint8((x*3 + y*2) % 256)
			if (x/13+y/7)%3 == 0 {
				v = 20
			}
			n := uint8(r.IntN(12))
			img.SetRGBA(x, y, color.RGBA{v + n, v/2 + n, 255 - v, 255})
		}
	}
	return img
}

func encode(t testing.TB, img image.Image, q int) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// lumaOf decodes with image/jpeg, the reference, and returns the Y plane.
func lumaOf(t testing.TB, data []byte) *image.Gray {
	ref, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	switch m := ref.(type) {
	case *image.YCbCr:
		return &image.Gray{Pix: m.Y, Stride: m.YStride, Rect: m.Rect}
	case *image.Gray:
		return m
	}
	t.Fatalf("reference decoded to %T", ref)
	return nil
}

// diff returns the largest and the mean absolute difference of a and b,
// which must have the same size.
func diff(t testing.TB, a, b *image.Gray) (int, float64) {
	if a.Rect.Size() != b.Rect.Size() {
		t.Fatalf("sizes %v and %v", a.Rect, b.Rect)
	}
	worst, sum := 0, 0
	for y := 0; y < a.Rect.Dy(); y++ {
		for x := 0; x < a.Rect.Dx(); x++ {
			d := int(a.Pix[y*a.Stride+x]) - int(b.Pix[y*b.Stride+x])
			d = max(d, -d)
			worst = max(worst, d)
			sum += d
		}
	}
	return worst, float64(sum) / float64(a.Rect.Dx()*a.Rect.Dy())
}

func TestFullScaleMatchesImageJPEG(t *testing.T) {
	for _, c := range []struct {
		w, h int
		grey bool
		q    int
	}{{64, 64, false, 90}, {77, 45, false, 75}, {250, 131, false, 95}, {61, 35, true, 85}, {8, 8, true, 50}, {1, 1, false, 90}} {
		var src image.Image = picture(c.w, c.h, 1)
		if c.grey {
			g := image.NewGray(src.Bounds())
			for y := 0; y < c.h; y++ {
				for x := 0; x < c.w; x++ {
					g.Set(x, y, src.At(x, y))
				}
			}
			src = g
		}
		data := encode(t, src, c.q)
		im, err := Decode(data)
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		got, _ := im.Gray(1)
		worst, mean := diff(t, got, lumaOf(t, data))
		if worst > 3 || mean > 0.5 {
			t.Errorf("%+v: full scale differs from image/jpeg by up to %d (mean %.2f)", c, worst, mean)
		}
		reg := im.Region(image.Rect(5, 3, 40, 30))
		full, _ := im.Gray(1)
		for y := reg.Rect.Min.Y; y < reg.Rect.Max.Y; y++ {
			for x := reg.Rect.Min.X; x < reg.Rect.Max.X; x++ {
				if reg.GrayAt(x, y) != full.GrayAt(x, y) {
					t.Fatalf("%+v: region differs from the full image at %d,%d", c, x, y)
				}
			}
		}
	}
}

// A reduced scale is close to the full image averaged down.
func TestScaledIsAverage(t *testing.T) {
	data := encode(t, picture(203, 157, 2), 92)
	ref := lumaOf(t, data)
	im, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, den := range []int{2, 4, 8} {
		got, _ := im.Gray(den)
		avg := image.NewGray(got.Rect)
		for y := 0; y < got.Rect.Dy(); y++ {
			for x := 0; x < got.Rect.Dx(); x++ {
				s, n := 0, 0
				for yy := y * den; yy < min((y+1)*den, ref.Rect.Dy()); yy++ {
					for xx := x * den; xx < min((x+1)*den, ref.Rect.Dx()); xx++ {
						s += int(ref.Pix[yy*ref.Stride+xx])
						n++
					}
				}
				avg.Pix[y*avg.Stride+x] = uint8(s / n)
			}
		}
		// Edge blocks hold padding; compare the inside.
		w, h := (203/8*8)/den, (157/8*8)/den
		_, mean := diff(t, got.SubImage(image.Rect(0, 0, w, h)).(*image.Gray), avg.SubImage(image.Rect(0, 0, w, h)).(*image.Gray))
		if mean > 6 {
			t.Errorf("1/%d: mean difference %.2f from the averaged image", den, mean)
		}
	}
}

func TestThumbnail(t *testing.T) {
	// Text-like luminance over colours that change slowly, as a letter
	// with a coloured logo or stamp.
	src := picture(400, 300, 3)
	for y := 0; y < 300; y++ {
		for x := 0; x < 400; x++ {
			i := src.PixOffset(x, y)
			l := src.Pix[i]
			src.Pix[i], src.Pix[i+1], src.Pix[i+2] = uint8(64+x*128/400), 64+l/2, uint8(64+y*128/300) // no clipping in the colour conversion
		}
	}
	data := encode(t, src, 90)
	im, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	half, _ := im.Gray(2)
	th, err := im.Thumbnail(100, half, 2)
	if err != nil {
		t.Fatal(err)
	}
	if th.Bounds() != image.Rect(0, 0, 100, 75) {
		t.Fatalf("thumbnail %v", th.Bounds())
	}
	ref, _ := jpeg.Decode(bytes.NewReader(data))
	// The colours of the thumbnail are those of the picture around it.
	for _, p := range []image.Point{{10, 10}, {50, 40}, {90, 70}} {
		r, g, b, _ := th.At(p.X, p.Y).RGBA()
		var sr, sg, sb, n uint32
		for y := p.Y * 4; y < p.Y*4+4; y++ {
			for x := p.X * 4; x < p.X*4+4; x++ {
				rr, gg, bb, _ := ref.At(x, y).RGBA()
				sr, sg, sb, n = sr+rr, sg+gg, sb+bb, n+1
			}
		}
		for i, v := range [][2]uint32{{r, sr / n}, {g, sg / n}, {b, sb / n}} {
			d := int(v[0]>>8) - int(v[1]>>8)
			if d > 16 || d < -16 {
				t.Errorf("thumbnail %v channel %d: %d, picture %d", p, i, v[0]>>8, v[1]>>8)
			}
		}
	}
}

// Files from libjpeg (restart markers, other tables) decode as
// image/jpeg decodes them.
func TestLibjpegFiles(t *testing.T) {
	cjpeg := testtool.NeedTool(t, "cjpeg")
	dir := t.TempDir()
	src := filepath.Join(dir, "in.ppm")
	img := picture(317, 211, 4)
	var ppm bytes.Buffer
	ppm.WriteString("P6\n317 211\n255\n")
	for i := 0; i < len(img.Pix); i += 4 {
		ppm.Write(img.Pix[i : i+3])
	}
	os.WriteFile(src, ppm.Bytes(), 0o644)
	for _, args := range [][]string{{"-restart", "1"}, {"-restart", "3B", "-sample", "1x1"}, {"-optimize", "-sample", "2x1"}, {"-grayscale", "-restart", "2"}} {
		out, err := exec.Command(cjpeg, append(args, src)...).Output()
		if err != nil {
			t.Fatal(err)
		}
		im, err := Decode(out)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		got, _ := im.Gray(1)
		if worst, mean := diff(t, got, lumaOf(t, out)); worst > 3 || mean > 0.5 {
			t.Errorf("%v: differs from image/jpeg by up to %d (mean %.2f)", args, worst, mean)
		}
	}
	prog, err := exec.Command(cjpeg, "-progressive", src).Output()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(prog); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("progressive: %v, want ErrUnsupported", err)
	}
}

func TestCorrupt(t *testing.T) {
	data := encode(t, picture(120, 90, 5), 90)
	for n := 0; n < len(data)-2; n += 97 {
		if _, err := Decode(data[:n]); !errors.Is(err, ErrFormat) {
			t.Fatalf("truncated to %d bytes: %v, want ErrFormat", n, err)
		}
	}
	big := bytes.Clone(data)
	// A header claiming a huge image over a few bytes of data.
	i := bytes.Index(big, []byte{0xff, 0xc0})
	big[i+5], big[i+6], big[i+7], big[i+8] = 0x27, 0x10, 0x27, 0x10
	if _, err := Decode(big); !errors.Is(err, ErrFormat) {
		t.Fatalf("10000×10000 header over %d bytes: %v", len(big), err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encode(f, picture(40, 24, 6), 80))
	g := image.NewGray(image.Rect(0, 0, 17, 9))
	f.Add(encode(f, g, 50))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		im, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error %v of no kind", err)
			}
			return
		}
		if im.Width*im.Height > 1<<22 {
			return
		}
		// What decodes here decodes in image/jpeg too, to the same size.
		ref, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			return // image/jpeg is stricter about some tables; ours is not a verdict
		}
		if ref.Bounds().Dx() != im.Width || ref.Bounds().Dy() != im.Height {
			t.Fatalf("size %dx%d, image/jpeg %v", im.Width, im.Height, ref.Bounds())
		}
		for _, den := range []int{1, 2, 8} {
			if _, err := im.Gray(den); err != nil {
				t.Fatal(err)
			}
		}
		if im.Width >= 4 {
			if _, err := im.Thumbnail(im.Width/2, nil, 0); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// The unrolled inverse DCTs give what the general one gives (to a level).
func TestIDCTUnrolled(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	var q [64]float32
	for i := range q {
		q[i] = float32(1 + r.IntN(40))
	}
	for i := 0; i < 2000; i++ {
		blk := make([]int16, 64)
		for k := 0; k < 1+r.IntN(20); k++ {
			blk[r.IntN(64)] = int16(r.IntN(200) - 100)
		}
		if i%3 == 0 {
			clear(blk[1:])
		}
		var a, b [64]uint8
		idct(blk, &q, idctTable(4), 4, &a)
		idct4(blk, &q, idctTable(4), &b)
		for k := range 16 {
			// Float rounding may differ by one level.
			if d := int(a[k]) - int(b[k]); d > 1 || d < -1 {
				t.Fatalf("idct4 differs for %v: %v %v", blk, a[:16], b[:16])
			}
		}
		idct(blk, &q, idctTable(2), 2, &a)
		idct2(blk, &q, idctTable(2), &b)
		if [4]uint8(a[:4]) != [4]uint8(b[:4]) {
			t.Fatalf("idct2 differs for %v: %v %v", blk, a[:4], b[:4])
		}
	}
}

// The half-scale picture drawn while decoding is the one drawn afterwards.
func TestDecodeHalf(t *testing.T) {
	data := encode(t, picture(203, 157, 8), 90)
	a, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	b, err := DecodeHalf(data)
	if err != nil {
		t.Fatal(err)
	}
	ga, _ := a.Gray(2)
	gb, _ := b.Gray(2)
	if ga.Rect != gb.Rect || !bytes.Equal(ga.Pix, gb.Pix) {
		for i := range ga.Pix {
			if ga.Pix[i] != gb.Pix[i] {
				t.Fatalf("DecodeHalf's half-scale picture differs at %d,%d: %d %d", i%ga.Stride, i/ga.Stride, ga.Pix[i], gb.Pix[i])
			}
		}
	}
}

package document

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"

	"github.com/einwurf/einwurf/kiosk/document/blank"
	"github.com/einwurf/einwurf/kiosk/document/codes"
	"github.com/einwurf/einwurf/kiosk/document/jpegdec"
)

// view is a page as analysis sees it: the luminance at a working scale
// (about 150 dpi, where blank judgement and the search for codes need no
// more), full-resolution parts of it on demand (thin bars, small modules),
// and the thumbnail. A JPEG is decoded once into DCT coefficients and all
// three come from those (the working scale by a reduced inverse DCT); other
// pages are decoded whole and reduced.
type view struct {
	work  *image.Gray // origin 0,0
	denom int         // work is 1/denom of the page's resolution
	full  func(image.Rectangle) *image.Gray
	thumb func(width int) (image.Image, error)
}

// workDenom is the reduction for analysis at dpi: about 150 dpi.
func workDenom(dpi int) int {
	if dpi >= 240 {
		return 2
	}
	return 1
}

// decodeJPEG decodes a baseline JPEG for a page at dpi with jpegdec.
func decodeJPEG(data []byte, dpi int) (view, error) {
	d := workDenom(dpi)
	dec := jpegdec.Decode
	if d == 2 {
		dec = jpegdec.DecodeHalf
	}
	im, err := dec(data)
	if err != nil {
		return view{}, err
	}
	work, err := im.Gray(d)
	if err != nil {
		return view{}, err
	}
	v := view{work: work, denom: d, full: im.Region,
		thumb: func(w int) (image.Image, error) { return im.Thumbnail(w, work, d) }}
	if d == 1 {
		v.full = crop(work)
	}
	return v, nil
}

// viewOf is the view of a page decoded whole.
func viewOf(img image.Image, dpi int) view {
	g := grayOf(img)
	if g.Rect.Min != (image.Point{}) {
		// The analyses index pixels from the image origin.
		c := image.NewGray(image.Rect(0, 0, g.Rect.Dx(), g.Rect.Dy()))
		for y := 0; y < g.Rect.Dy(); y++ {
			copy(c.Pix[y*c.Stride:], g.Pix[y*g.Stride:y*g.Stride+g.Rect.Dx()])
		}
		g = c
	}
	d := workDenom(dpi)
	work := g
	if d > 1 {
		work = codes.Halve(g)
	}
	return view{work: work, denom: d, full: crop(g), thumb: func(w int) (image.Image, error) { return boxThumb(img, work, w) }}
}

func crop(g *image.Gray) func(image.Rectangle) *image.Gray {
	return func(r image.Rectangle) *image.Gray { return g.SubImage(r).(*image.Gray) }
}

// analyse judges blankness and looks for codes.
func analyse(ctx context.Context, v view, pg *Page, opt Options) error {
	dpi := pg.Resolution / v.denom
	if opt.BlankThreshold > 0 {
		bo := blank.DefaultOptions()
		bo.Threshold = opt.BlankThreshold
		if opt.BlankContrast > 0 {
			bo.Contrast = opt.BlankContrast
		}
		r, err := blank.Analyse(v.work, dpi, bo)
		if err != nil {
			return fmt.Errorf("document: blank: %w", err)
		}
		pg.Blank, pg.Ink = r.Blank, r.Ink
	}
	if opt.DetectCodes {
		cs, err := codes.DetectScaled(ctx, v.work, v.denom, pg.Resolution, v.full)
		if err != nil {
			if errors.Is(err, codes.ErrBadImage) {
				return malformed("%v", err)
			}
			return err
		}
		pg.Codes = cs
	}
	return nil
}

// boxThumb reduces a page decoded whole to width pixels: grey pages from
// the working luminance, colour ones by averaging a grid of samples in
// each output pixel.
func boxThumb(img image.Image, work *image.Gray, width int) (image.Image, error) {
	b := img.Bounds()
	if width < 1 || width > b.Dx() {
		return nil, fmt.Errorf("%w: width %d", ErrBadThumb, width)
	}
	height := max(1, (b.Dy()*width+b.Dx()/2)/b.Dx())
	colour := true
	switch m := img.(type) {
	case *image.Gray:
		colour = false
	case *image.Paletted:
		colour = false
		for _, c := range m.Palette {
			if r, g, bl, _ := c.RGBA(); r != g || g != bl {
				colour = true
			}
		}
	}
	if !colour {
		out := image.NewGray(image.Rect(0, 0, width, height))
		ww, wh := work.Rect.Dx(), work.Rect.Dy()
		for oy := 0; oy < height; oy++ {
			y0, y1 := oy*wh/height, max(oy*wh/height+1, (oy+1)*wh/height)
			for ox := 0; ox < width; ox++ {
				x0, x1 := ox*ww/width, max(ox*ww/width+1, (ox+1)*ww/width)
				s, n := 0, 0
				for y := y0; y < y1 && y < wh; y++ {
					for _, v := range work.Pix[y*work.Stride+x0 : y*work.Stride+min(x1, ww)] {
						s += int(v)
						n++
					}
				}
				out.Pix[oy*out.Stride+ox] = uint8(s / max(n, 1))
			}
		}
		return out, nil
	}
	out := image.NewRGBA(image.Rect(0, 0, width, height))
	const grid = 4
	for oy := 0; oy < height; oy++ {
		for ox := 0; ox < width; ox++ {
			var sr, sg, sb uint32
			for j := 0; j < grid; j++ {
				y := b.Min.Y + ((oy*grid+j)*b.Dy()+b.Dy()/2)/(height*grid)
				for i := 0; i < grid; i++ {
					x := b.Min.X + ((ox*grid+i)*b.Dx()+b.Dx()/2)/(width*grid)
					r, g, bl, _ := img.At(min(x, b.Max.X-1), min(y, b.Max.Y-1)).RGBA()
					sr, sg, sb = sr+r, sg+g, sb+bl
				}
			}
			out.SetRGBA(ox, oy, color.RGBA{uint8(sr / grid / grid >> 8), uint8(sg / grid / grid >> 8), uint8(sb / grid / grid >> 8), 255})
		}
	}
	return out, nil
}

// ThumbQuality is the JPEG quality of the thumbnails Ingest makes.
const ThumbQuality = 85

// writeThumb writes the page's thumbnail as JPEG to a new file in dir:
// a few milliseconds, where PNG takes several times as long and is larger.
func writeThumb(v view, width int, dir Folder) (string, error) {
	img, err := v.thumb(width)
	if err != nil {
		return "", err
	}
	return writeFile(dir, func(w io.Writer) error {
		return jpeg.Encode(w, img, &jpeg.Options{Quality: ThumbQuality})
	})
}

// Package jpegdec decodes a baseline JPEG once and hands out what page
// analysis needs at the scale it needs it, from the DCT coefficients: the
// luminance at half, quarter or eighth scale (the inverse DCT of only the
// low frequencies, as libjpeg's scaled decoding does), any region of it at
// full resolution, and a small colour picture for thumbnails from the DC
// coefficients. Every coefficient of every component is Huffman-decoded, so
// a truncated or corrupt file fails here as it would in a full decode.
//
// Only what scanners send is handled: 8-bit baseline or extended Huffman
// JPEG, one interleaved scan, greyscale or YCbCr with the luminance at the
// highest sampling. Anything else (progressive, arithmetic coding, RGB or
// CMYK) gives ErrUnsupported, and the caller decodes it with image/jpeg.
package jpegdec

import (
	"errors"
	"fmt"
	"image"
	"math"
)

// Errors of Decode.
var (
	// ErrFormat means the data is not a valid JPEG (truncated, corrupt).
	ErrFormat = errors.New("jpegdec: invalid JPEG")
	// ErrUnsupported means a valid JPEG of a kind this package does not
	// decode; image/jpeg may.
	ErrUnsupported = errors.New("jpegdec: unsupported JPEG")
)

// MaxPixels bounds Width*Height; larger images are refused before any
// allocation.
const MaxPixels = 100_000_000

// Image is a decoded JPEG: the luminance's quantised coefficients and the
// chroma's DC terms.
type Image struct {
	Width, Height int
	// Density is the JFIF pixel density in dots per inch, 0 if unknown.
	Density int
	comps   []component
	hmax    int
	vmax    int
	half    *image.Gray // the luminance at 1/2, made while decoding (DecodeHalf)
}

type component struct {
	id     byte
	h, v   int
	tq     int
	bw, bh int         // blocks per line and column (whole MCUs)
	q      [64]float32 // dequantisation, natural order
	sparse []uint32    // luminance: the non-zero coefficients, position<<16 | value
	off    []uint32    // luminance: block b's are sparse[off[b]:off[b]+cnt[b]]
	cnt    []uint8
	low    []uint8 // chroma: 2×2 pixels per block (1/4 scale), 2*bw wide
	dc     []int16 // every component: the DC term per block
	td, ta int
	pred   int
}

func errf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
}

// zigzag maps the coded order to natural order.
var zigzag = [64]uint8{
	0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
}

// Decode decodes data, a whole JPEG file.
func Decode(data []byte) (*Image, error) {
	d := &decoder{data: data}
	return d.decode()
}

// DecodeHalf is Decode that also draws the luminance at half scale while
// each block is at hand, the cheapest way to the working scale of page
// analysis; Gray(2) then returns that picture, shared.
func DecodeHalf(data []byte) (*Image, error) {
	d := &decoder{data: data, half: true}
	return d.decode()
}

type decoder struct {
	data  []byte
	pos   int
	img   Image
	quant [4][64]uint16
	hasQ  [4]bool
	dcTab [4]*huffman
	acTab [4]*huffman
	ri    int
	sof   bool
	adobe int // -1 no Adobe marker; else transform
	half  bool
}

func (d *decoder) u16() (int, error) {
	if d.pos+2 > len(d.data) {
		return 0, errf("unexpected end of data")
	}
	v := int(d.data[d.pos])<<8 | int(d.data[d.pos+1])
	d.pos += 2
	return v, nil
}

func (d *decoder) segment() ([]byte, error) {
	n, err := d.u16()
	if err != nil {
		return nil, err
	}
	if n < 2 || d.pos+n-2 > len(d.data) {
		return nil, errf("segment length %d", n)
	}
	s := d.data[d.pos : d.pos+n-2]
	d.pos += n - 2
	return s, nil
}

func (d *decoder) decode() (*Image, error) {
	d.adobe = -1
	if len(d.data) < 4 || d.data[0] != 0xff || d.data[1] != 0xd8 {
		return nil, errf("missing SOI marker")
	}
	d.pos = 2
	for {
		// Find the next marker; fill bytes 0xff may precede it.
		if d.pos >= len(d.data) {
			return nil, errf("unexpected end of data")
		}
		if d.data[d.pos] != 0xff {
			return nil, errf("expected a marker at %d", d.pos)
		}
		for d.pos < len(d.data) && d.data[d.pos] == 0xff {
			d.pos++
		}
		if d.pos >= len(d.data) {
			return nil, errf("unexpected end of data")
		}
		m := d.data[d.pos]
		d.pos++
		switch {
		case m == 0xd9: // EOI
			return nil, errf("no image data")
		case m >= 0xd0 && m <= 0xd7:
			return nil, errf("restart marker outside scan")
		case m == 0xc0 || m == 0xc1:
			s, err := d.segment()
			if err != nil {
				return nil, err
			}
			if err := d.parseSOF(s); err != nil {
				return nil, err
			}
		case m >= 0xc2 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc:
			return nil, fmt.Errorf("%w: SOF%d", ErrUnsupported, m-0xc0)
		case m == 0xc4:
			s, err := d.segment()
			if err != nil {
				return nil, err
			}
			if err := d.parseDHT(s); err != nil {
				return nil, err
			}
		case m == 0xdb:
			s, err := d.segment()
			if err != nil {
				return nil, err
			}
			if err := d.parseDQT(s); err != nil {
				return nil, err
			}
		case m == 0xdd:
			s, err := d.segment()
			if err != nil {
				return nil, err
			}
			if len(s) != 2 {
				return nil, errf("DRI length")
			}
			d.ri = int(s[0])<<8 | int(s[1])
		case m == 0xda:
			s, err := d.segment()
			if err != nil {
				return nil, err
			}
			if err := d.scan(s); err != nil {
				return nil, err
			}
			return &d.img, d.finish()
		case m == 0xe0:
			s, err := d.segment()
			if err != nil {
				return nil, err
			}
			if len(s) >= 12 && string(s[:5]) == "JFIF\x00" {
				x := int(s[8])<<8 | int(s[9])
				switch s[7] {
				case 1:
					d.img.Density = x
				case 2:
					d.img.Density = int(float64(x)*2.54 + 0.5)
				}
			}
		case m == 0xee:
			s, err := d.segment()
			if err != nil {
				return nil, err
			}
			if len(s) >= 12 && string(s[:5]) == "Adobe" {
				d.adobe = int(s[11])
			}
		case m >= 0xe1 && m <= 0xef || m == 0xfe:
			if _, err := d.segment(); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("%w: marker %#02x", ErrUnsupported, m)
		}
	}
}

// finish checks what follows the scan: an EOI marker (another scan would
// be a multi-scan file, which the caller decodes otherwise).
func (d *decoder) finish() error {
	for d.pos < len(d.data) && d.data[d.pos] == 0xff && d.pos+1 < len(d.data) && d.data[d.pos+1] == 0xff {
		d.pos++
	}
	if d.pos+1 >= len(d.data) || d.data[d.pos] != 0xff {
		return errf("missing EOI marker")
	}
	switch m := d.data[d.pos+1]; m {
	case 0xd9:
		return nil
	case 0xda, 0xc4, 0xdb, 0xdd:
		return fmt.Errorf("%w: more than one scan", ErrUnsupported)
	default:
		return errf("marker %#02x after the scan", m)
	}
}

func (d *decoder) parseSOF(s []byte) error {
	if d.sof {
		return errf("second SOF")
	}
	d.sof = true
	if len(s) < 6 {
		return errf("SOF length")
	}
	if s[0] != 8 {
		return fmt.Errorf("%w: %d-bit samples", ErrUnsupported, s[0])
	}
	h, w, nc := int(s[1])<<8|int(s[2]), int(s[3])<<8|int(s[4]), int(s[5])
	if w == 0 || h == 0 {
		return errf("image size %dx%d", w, h)
	}
	if w*h > MaxPixels {
		return errf("image of %dx%d pixels is too large", w, h)
	}
	if nc != 1 && nc != 3 {
		return fmt.Errorf("%w: %d components", ErrUnsupported, nc)
	}
	if len(s) != 6+3*nc {
		return errf("SOF length")
	}
	d.img.Width, d.img.Height = w, h
	for i := 0; i < nc; i++ {
		c := component{id: s[6+3*i], h: int(s[7+3*i] >> 4), v: int(s[7+3*i] & 15), tq: int(s[8+3*i])}
		if c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 || c.tq > 3 {
			return errf("component sampling")
		}
		for _, o := range d.img.comps {
			if o.id == c.id {
				return errf("repeated component id")
			}
		}
		d.img.comps = append(d.img.comps, c)
		d.img.hmax, d.img.vmax = max(d.img.hmax, c.h), max(d.img.vmax, c.v)
	}
	if nc == 1 {
		// A single component is one block per MCU whatever it claims.
		d.img.comps[0].h, d.img.comps[0].v = 1, 1
		d.img.hmax, d.img.vmax = 1, 1
	}
	if y := d.img.comps[0]; y.h != d.img.hmax || y.v != d.img.vmax {
		return fmt.Errorf("%w: luminance not at the highest sampling", ErrUnsupported)
	}
	mw := (w + 8*d.img.hmax - 1) / (8 * d.img.hmax)
	mh := (h + 8*d.img.vmax - 1) / (8 * d.img.vmax)
	for i := range d.img.comps {
		c := &d.img.comps[i]
		c.bw, c.bh = mw*c.h, mh*c.v
	}
	return nil
}

func (d *decoder) parseDQT(s []byte) error {
	for len(s) > 0 {
		pq, tq := s[0]>>4, int(s[0]&15)
		if tq > 3 || pq > 1 {
			return errf("DQT")
		}
		s = s[1:]
		n := 64 * (1 + int(pq))
		if len(s) < n {
			return errf("DQT length")
		}
		for i := 0; i < 64; i++ {
			if pq == 0 {
				d.quant[tq][i] = uint16(s[i])
			} else {
				d.quant[tq][i] = uint16(s[2*i])<<8 | uint16(s[2*i+1])
			}
		}
		d.hasQ[tq] = true
		s = s[n:]
	}
	return nil
}

func (d *decoder) parseDHT(s []byte) error {
	for len(s) > 0 {
		if len(s) < 17 {
			return errf("DHT length")
		}
		tc, th := s[0]>>4, int(s[0]&15)
		if tc > 1 || th > 3 {
			return errf("DHT class")
		}
		var counts [16]int
		total := 0
		for i := range counts {
			counts[i] = int(s[1+i])
			total += counts[i]
		}
		if total == 0 || total > 256 || len(s) < 17+total {
			return errf("DHT length")
		}
		h, err := newHuffman(counts, s[17:17+total], tc == 1)
		if err != nil {
			return err
		}
		if tc == 0 {
			d.dcTab[th] = h
		} else {
			d.acTab[th] = h
		}
		s = s[17+total:]
	}
	return nil
}

func (d *decoder) scan(s []byte) error {
	if !d.sof {
		return errf("SOS before SOF")
	}
	if len(s) < 1 {
		return errf("SOS length")
	}
	ns := int(s[0])
	if ns != len(d.img.comps) {
		return fmt.Errorf("%w: scan of %d of %d components", ErrUnsupported, ns, len(d.img.comps))
	}
	if len(s) != 4+2*ns {
		return errf("SOS length")
	}
	for i := 0; i < ns; i++ {
		id, t := s[1+2*i], s[2+2*i]
		c := &d.img.comps[i]
		if c.id != id {
			return fmt.Errorf("%w: scan components out of order", ErrUnsupported)
		}
		c.td, c.ta = int(t>>4), int(t&15)
		if c.td > 3 || c.ta > 3 || d.dcTab[c.td] == nil || d.acTab[c.ta] == nil {
			return errf("missing Huffman table")
		}
		if !d.hasQ[c.tq] {
			return errf("missing quantisation table")
		}
	}
	if ss, se, a := s[1+2*ns], s[2+2*ns], s[3+2*ns]; ss != 0 || se != 63 || a != 0 {
		return errf("spectral selection of a sequential scan")
	}
	// Components other than those of one colour with 3 components are
	// not YCbCr: an Adobe transform of 0 or RGB ids mean RGB.
	if len(d.img.comps) == 3 {
		c := d.img.comps
		if d.adobe == 0 || c[0].id == 'R' && c[1].id == 'G' && c[2].id == 'B' {
			return fmt.Errorf("%w: RGB JPEG", ErrUnsupported)
		}
	}
	// Every block takes at least two bits (a DC code and an end of
	// block): a header promising more blocks than the data can hold is
	// refused before the coefficients are allocated.
	blocks := 0
	for _, c := range d.img.comps {
		blocks += c.bw * c.bh
	}
	if blocks/4 > len(d.data)-d.pos+8 {
		return errf("%d blocks in %d bytes", blocks, len(d.data)-d.pos)
	}
	blocks = 0
	for i := range d.img.comps {
		c := &d.img.comps[i]
		for k := 0; k < 64; k++ {
			c.q[zigzag[k]] = float32(d.quant[c.tq][k])
		}
		n := c.bw * c.bh
		blocks += n
		c.dc = make([]int16, n)
		if i == 0 {
			c.off, c.cnt = make([]uint32, n), make([]uint8, n)
			// Scanned pages have about 1.3 non-zero luminance
			// coefficients per byte of data; more grow the slice.
			c.sparse = make([]uint32, 0, min(64*n, 3*(len(d.data)-d.pos)/2))
			if d.half {
				d.img.half = image.NewGray(image.Rect(0, 0, (d.img.Width+1)/2, (d.img.Height+1)/2))
			}
		} else {
			c.low = make([]uint8, 4*n)
		}
	}
	return d.entropy()
}

// entropy decodes the scan's MCUs.
func (d *decoder) entropy() error {
	im := &d.img
	mw, mh := im.comps[0].bw/im.comps[0].h, im.comps[0].bh/im.comps[0].v
	br := bitReader{data: d.data, pos: d.pos}
	var scratch [64]int16
	var px [64]uint8
	t2, t4 := idctTable(2), idctTable(4)
	y := &im.comps[0]
	mcus := 0
	for my := 0; my < mh; my++ {
		for mx := 0; mx < mw; mx++ {
			if d.ri > 0 && mcus > 0 && mcus%d.ri == 0 {
				if err := br.restart(); err != nil {
					return err
				}
				for i := range im.comps {
					im.comps[i].pred = 0
				}
			}
			mcus++
			for ci := range im.comps {
				c := &im.comps[ci]
				dc, ac := d.dcTab[c.td], d.acTab[c.ta]
				for by := 0; by < c.v; by++ {
					for bx := 0; bx < c.h; bx++ {
						b := (my*c.v+by)*c.bw + mx*c.h + bx
						if ci != 0 {
							// Chroma is kept at 1/4 scale only: enough
							// for thumbnails, a quarter of a block's
							// inverse DCT, and no coefficients stored.
							if err := br.block(dc, ac, &scratch, &c.pred, nil); err != nil {
								return err
							}
							c.dc[b] = int16(c.pred)
							idct2(scratch[:], &c.q, t2, &px)
							scratch = [64]int16{}
							row := (b / c.bw) * 2 * (2 * c.bw)
							col := (b % c.bw) * 2
							c.low[row+col], c.low[row+col+1] = px[0], px[1]
							c.low[row+2*c.bw+col], c.low[row+2*c.bw+col+1] = px[2], px[3]
							continue
						}
						start := len(y.sparse)
						if err := br.block(dc, ac, &scratch, &c.pred, &y.sparse); err != nil {
							return err
						}
						c.dc[b] = int16(c.pred)
						y.off[b], y.cnt[b] = uint32(start), uint8(len(y.sparse)-start)
						if im.half != nil {
							idct4(scratch[:], &y.q, t4, &px)
							im.put(im.half, b, 4, &px)
						}
						for _, e := range y.sparse[start:] {
							scratch[e>>16&63] = 0
						}
					}
				}
			}
		}
		if br.overrun() {
			return errf("scan data ends early")
		}
	}
	d.pos = br.end()
	return nil
}

// Gray returns the luminance at 1/denom scale (denom 1, 2, 4 or 8; sizes
// round up).
func (im *Image) Gray(denom int) (*image.Gray, error) {
	n, ok := map[int]int{1: 8, 2: 4, 4: 2, 8: 1}[denom]
	if !ok {
		return nil, fmt.Errorf("jpegdec: scale 1/%d", denom)
	}
	if denom == 2 && im.half != nil {
		return im.half, nil
	}
	w, h := (im.Width+denom-1)/denom, (im.Height+denom-1)/denom
	g := image.NewGray(image.Rect(0, 0, w, h))
	im.render(g, n, image.Rect(0, 0, im.comps[0].bw, im.comps[0].bh))
	return g, nil
}

// Region returns the luminance of r (clipped to the image) at full
// resolution, with r's origin.
func (im *Image) Region(r image.Rectangle) *image.Gray {
	r = r.Intersect(image.Rect(0, 0, im.Width, im.Height))
	g := image.NewGray(r)
	if r.Empty() {
		return g
	}
	blocks := image.Rect(r.Min.X/8, r.Min.Y/8, (r.Max.X+7)/8, (r.Max.Y+7)/8)
	im.render(g, 8, blocks)
	return g
}

// render draws the luminance blocks bl at n×n pixels per block into g
// (whose coordinates are at that scale), clipping to g.
func (im *Image) render(g *image.Gray, n int, bl image.Rectangle) {
	c := &im.comps[0]
	t := idctTable(n)
	var blk [64]int16
	var out [64]uint8
	for by := bl.Min.Y; by < bl.Max.Y; by++ {
		for bx := bl.Min.X; bx < bl.Max.X; bx++ {
			x0, y0 := bx*n, by*n
			if x0 >= g.Rect.Max.X || y0 >= g.Rect.Max.Y || x0+n <= g.Rect.Min.X || y0+n <= g.Rect.Min.Y {
				continue
			}
			b := by*c.bw + bx
			es := c.sparse[c.off[b] : c.off[b]+uint32(c.cnt[b])]
			for _, e := range es {
				blk[e>>16&63] = int16(uint16(e))
			}
			if n == 4 {
				idct4(blk[:], &c.q, t, &out)
			} else {
				idct(blk[:], &c.q, t, n, &out)
			}
			for _, e := range es {
				blk[e>>16&63] = 0
			}
			im.put(g, b, n, &out)
		}
	}
}

// put copies block b's n×n pixels into g (at that scale), clipping to g.
func (im *Image) put(g *image.Gray, b, n int, out *[64]uint8) {
	c := &im.comps[0]
	x0, y0 := (b%c.bw)*n, (b/c.bw)*n
	if x0 >= g.Rect.Min.X && y0 >= g.Rect.Min.Y && x0+n <= g.Rect.Max.X && y0+n <= g.Rect.Max.Y {
		// Inside: whole rows.
		o := (y0-g.Rect.Min.Y)*g.Stride + x0 - g.Rect.Min.X
		for y := 0; y < n; y++ {
			copy(g.Pix[o+y*g.Stride:o+y*g.Stride+n], out[y*n:y*n+n])
		}
		return
	}
	for y := 0; y < n; y++ {
		py := y0 + y
		if py < g.Rect.Min.Y || py >= g.Rect.Max.Y {
			continue
		}
		row := (py - g.Rect.Min.Y) * g.Stride
		for x := 0; x < n; x++ {
			if px := x0 + x; px >= g.Rect.Min.X && px < g.Rect.Max.X {
				g.Pix[row+px-g.Rect.Min.X] = out[y*n+x]
			}
		}
	}
}

// idct2 is idct for n = 2: the chroma's quarter-scale picture.
func idct2(blk []int16, q *[64]float32, t *[8][8]float32, out *[64]uint8) {
	blk = blk[:10]
	f00, f01 := float32(blk[0])*q[0], float32(blk[1])*q[1]
	f10, f11 := float32(blk[8])*q[8], float32(blk[9])*q[9]
	a, b := t[0][0], t[0][1]             // t[1][0] = a, t[1][1] = -b
	r00, r01 := a*f00+b*f01, a*f00-b*f01 // row v=0 at x=0,1
	r10, r11 := a*f10+b*f11, a*f10-b*f11
	out[0] = clamp(128 + a*r00 + b*r10)
	out[1] = clamp(128 + a*r01 + b*r11)
	out[2] = clamp(128 + a*r00 - b*r10)
	out[3] = clamp(128 + a*r01 - b*r11)
}

// The 4-point inverse DCT with the 8-point normalisation, split into its
// even and odd halves (k0 = cos(π/4)/2, c1 = cos(π/8)/2, c3 = cos(3π/8)/2).
var (
	k0 = float32(1 / (2 * math.Sqrt2))
	c1 = float32(math.Cos(math.Pi/8) / 2)
	c3 = float32(math.Cos(3*math.Pi/8) / 2)
)

// idct4 is idct for n = 4 in six multiplications per row and column: the
// half-scale picture of every luminance block is the bulk of the work.
func idct4(blk []int16, q *[64]float32, _ *[8][8]float32, out *[64]uint8) {
	blk = blk[:28]
	if blk[1]|blk[2]|blk[3]|blk[8]|blk[9]|blk[10]|blk[11]|blk[16]|blk[17]|blk[18]|blk[19]|blk[24]|blk[25]|blk[26]|blk[27] == 0 {
		// Flat block (paper): one level.
		v := clamp(float32(blk[0])*q[0]/8 + 128)
		for i := range out[:16] {
			out[i] = v
		}
		return
	}
	var tmp [16]float32
	for v := 0; v < 4; v++ {
		r := blk[v*8 : v*8+4]
		if r[0]|r[1]|r[2]|r[3] == 0 {
			continue
		}
		qq := q[v*8 : v*8+4]
		f0, f1, f2, f3 := float32(r[0])*qq[0], float32(r[1])*qq[1], float32(r[2])*qq[2], float32(r[3])*qq[3]
		e0, e1 := k0*(f0+f2), k0*(f0-f2)
		o0, o1 := c1*f1+c3*f3, c3*f1-c1*f3
		tmp[v*4+0], tmp[v*4+1], tmp[v*4+2], tmp[v*4+3] = e0+o0, e1+o1, e1-o1, e0-o0
	}
	for x := 0; x < 4; x++ {
		f0, f1, f2, f3 := tmp[x], tmp[4+x], tmp[8+x], tmp[12+x]
		e0, e1 := k0*(f0+f2)+128, k0*(f0-f2)+128
		o0, o1 := c1*f1+c3*f3, c3*f1-c1*f3
		out[x], out[4+x], out[8+x], out[12+x] = clamp(e0+o0), clamp(e1+o1), clamp(e1-o1), clamp(e0-o0)
	}
}

// idctTables holds, per output size n, M[x][u] = C(u)/2·cos((2x+1)uπ/2n):
// the 8-point inverse DCT's normalisation with an n-point basis, so the
// n×n result is the block's picture at n/8 scale.
var idctTables = func() map[int]*[8][8]float32 {
	m := map[int]*[8][8]float32{}
	for _, n := range []int{1, 2, 4, 8} {
		var t [8][8]float32
		for x := 0; x < n; x++ {
			for u := 0; u < n; u++ {
				c := 1.0
				if u == 0 {
					c = 1 / math.Sqrt2
				}
				t[x][u] = float32(c / 2 * math.Cos(float64(2*x+1)*float64(u)*math.Pi/float64(2*n)))
			}
		}
		m[n] = &t
	}
	return m
}()

func idctTable(n int) *[8][8]float32 { return idctTables[n] }

// idct reconstructs the top-left n×n frequencies of blk as n×n pixels.
func idct(blk []int16, q *[64]float32, t *[8][8]float32, n int, out *[64]uint8) {
	if n == 1 {
		out[0] = clamp(float32(blk[0])*q[0]/8 + 128)
		return
	}
	var tmp [64]float32 // tmp[v*n+x]: rows transformed
	for v := 0; v < n; v++ {
		row := blk[v*8 : v*8+n]
		zero := true
		for _, c := range row {
			if c != 0 {
				zero = false
				break
			}
		}
		if zero {
			continue
		}
		var f [8]float32
		for u := 0; u < n; u++ {
			f[u] = float32(row[u]) * q[v*8+u]
		}
		for x := 0; x < n; x++ {
			s := float32(0)
			for u := 0; u < n; u++ {
				s += t[x][u] * f[u]
			}
			tmp[v*n+x] = s
		}
	}
	for x := 0; x < n; x++ {
		for y := 0; y < n; y++ {
			s := float32(128)
			for v := 0; v < n; v++ {
				s += t[y][v] * tmp[v*n+x]
			}
			out[y*n+x] = clamp(s)
		}
	}
}

func clamp(v float32) uint8 {
	switch {
	case v <= 0:
		return 0
	case v >= 255:
		return 255
	}
	return uint8(v + 0.5)
}

// Thumbnail returns a picture width pixels wide (height in proportion):
// the luminance at 1/lumaDenom scale (luma, as Gray returned it; nil to
// make one at 1/8) averaged down, and for colour images the chroma at 1/4
// scale of its plane. Colour comes back as *image.YCbCr (4:4:4), which
// image/jpeg encodes without conversion, grey as *image.Gray.
func (im *Image) Thumbnail(width int, luma *image.Gray, lumaDenom int) (image.Image, error) {
	if width < 1 || width > im.Width {
		return nil, fmt.Errorf("jpegdec: thumbnail width %d", width)
	}
	if luma == nil || width*8 <= im.Width*21/20 {
		// The DC terms are the 8×8 averages: the eighth-scale picture
		// for free, and enough for a thumbnail at most about that wide.
		luma = im.dcPicture()
	}
	height := max(1, (im.Height*width+im.Width/2)/im.Width)
	r := image.Rect(0, 0, width, height)
	var out *image.YCbCr
	var yPix []uint8
	stride := width
	if len(im.comps) == 3 {
		out = image.NewYCbCr(r, image.YCbCrSubsampleRatio444)
		yPix, stride = out.Y, out.YStride
	} else {
		yPix = make([]uint8, width*height)
	}
	lw, lh := luma.Rect.Dx(), luma.Rect.Dy()
	for oy := 0; oy < height; oy++ {
		sy0, sy1 := oy*lh/height, max(oy*lh/height+1, (oy+1)*lh/height)
		fy := (2*oy + 1) * im.Height / (2 * height)
		for ox := 0; ox < width; ox++ {
			sx0, sx1 := ox*lw/width, max(ox*lw/width+1, (ox+1)*lw/width)
			sum, cnt := 0, 0
			for y := sy0; y < sy1 && y < lh; y++ {
				for _, v := range luma.Pix[y*luma.Stride+sx0 : y*luma.Stride+min(sx1, lw)] {
					sum += int(v)
				}
				cnt += min(sx1, lw) - sx0
			}
			yPix[oy*stride+ox] = uint8(sum / max(cnt, 1))
			if out != nil {
				fx := (2*ox + 1) * im.Width / (2 * width)
				o := oy*out.CStride + ox
				out.Cb[o], out.Cr[o] = im.chromaAt(1, fx, fy), im.chromaAt(2, fx, fy)
			}
		}
	}
	if out != nil {
		return out, nil
	}
	return &image.Gray{Pix: yPix, Stride: width, Rect: r}, nil
}

// dcPicture is the luminance at 1/8 from the DC terms.
func (im *Image) dcPicture() *image.Gray {
	c := &im.comps[0]
	w, h := (im.Width+7)/8, (im.Height+7)/8
	g := image.NewGray(image.Rect(0, 0, w, h))
	q := c.q[0] / 8
	for y := 0; y < h; y++ {
		row := c.dc[y*c.bw : y*c.bw+w]
		out := g.Pix[y*g.Stride : y*g.Stride+w]
		for x, v := range row {
			out[x] = clamp(float32(v)*q + 128)
		}
	}
	return g
}

// chromaAt is component ci at full-resolution pixel (x, y), from its 1/4
// scale picture.
func (im *Image) chromaAt(ci, x, y int) uint8 {
	c := &im.comps[ci]
	lx := min(x*c.h/im.hmax/4, 2*c.bw-1)
	ly := min(y*c.v/im.vmax/4, 2*c.bh-1)
	return c.low[ly*2*c.bw+lx]
}

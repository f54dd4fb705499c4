// Package g4 encodes bilevel images with ITU-T T.6 (CCITT Group 4), the
// lossless two-dimensional coding PDF readers decode as /CCITTFaxDecode with
// /K -1. Scanned text pages shrink to a few tens of kilobytes this way.
package g4

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// Bitmap is a packed bilevel image: rows of Stride bytes, the most
// significant bit first, 1 meaning black. Bits beyond Width are ignored.
type Bitmap struct {
	Width, Height, Stride int
	Pix                   []byte
}

// NewBitmap returns an all-white bitmap of the given size.
func NewBitmap(w, h int) *Bitmap {
	stride := (w + 7) / 8
	return &Bitmap{Width: w, Height: h, Stride: stride, Pix: make([]byte, stride*h)}
}

// Set sets the pixel at (x, y) to black when black is true, else white.
func (b *Bitmap) Set(x, y int, black bool) {
	i := y*b.Stride + x>>3
	m := byte(0x80) >> uint(x&7)
	if black {
		b.Pix[i] |= m
	} else {
		b.Pix[i] &^= m
	}
}

// Black reports whether the pixel at (x, y) is black.
func (b *Bitmap) Black(x, y int) bool {
	return b.Pix[y*b.Stride+x>>3]&(0x80>>uint(x&7)) != 0
}

// ErrBadBitmap is returned for a bitmap whose fields do not describe its
// pixel buffer.
var ErrBadBitmap = errors.New("g4: bad bitmap")

var (
	white = buildRun(whiteTerm, whiteMakeup)
	black = buildRun(blackTerm, blackMakeup)
	pass  = mk(codePass)
	horz  = mk(codeHorz)
	eol   = mk(codeEOL)
	vert  = func() (v [7]bitCode) {
		for i, s := range vertCodes {
			v[i] = mk(s)
		}
		return v
	}()
)

type bitWriter struct {
	w   *bufio.Writer
	acc uint64
	n   uint
}

func (b *bitWriter) put(c bitCode) {
	b.acc = b.acc<<c.n | uint64(c.v)
	b.n += uint(c.n)
	for b.n >= 8 {
		b.n -= 8
		b.w.WriteByte(byte(b.acc >> b.n))
	}
}

func (b *bitWriter) run(n int, t *runTables) {
	for n >= 2560 {
		b.put(t.makeup[39])
		n -= 2560
	}
	if n >= 64 {
		b.put(t.makeup[n/64-1])
		n %= 64
	}
	b.put(t.term[n])
}

// changes appends to dst the changing elements of a row: positions whose
// colour differs from the pixel before (the pixel before the row counts as
// white), then three sentinels equal to width so lookups never run off.
func changes(row []byte, width int, dst []int) []int {
	dst = dst[:0]
	colour := 0
	x := 0
	for x < width {
		if x&7 == 0 {
			// Skip whole bytes of the current colour: most of a page is
			// white, so this is where the time would go.
			want := byte(0)
			if colour == 1 {
				want = 0xFF
			}
			for x+8 <= width && row[x>>3] == want {
				x += 8
			}
			if x >= width {
				break
			}
		}
		if bit := int(row[x>>3]>>(7-uint(x&7))) & 1; bit != colour {
			dst = append(dst, x)
			colour = bit
		}
		x++
	}
	return append(dst, width, width, width)
}

// Encode writes b as a T.6 (Group 4) stream, ended by EOFB, to w.
func Encode(w io.Writer, b *Bitmap) error {
	if b == nil || b.Width <= 0 || b.Height <= 0 || b.Width > 1<<20 || b.Stride < (b.Width+7)/8 ||
		len(b.Pix) < b.Stride*(b.Height-1)+(b.Width+7)/8 {
		return ErrBadBitmap
	}
	bw := bufio.NewWriterSize(w, 32<<10)
	out := &bitWriter{w: bw}
	width := b.Width
	ref := append(make([]int, 0, 64), width, width, width) // imaginary white line
	cur := make([]int, 0, 64)
	for y := 0; y < b.Height; y++ {
		cur = changes(b.Pix[y*b.Stride:], width, cur)
		encodeRow(out, cur, ref, width)
		ref, cur = cur, ref
	}
	out.put(eol)
	out.put(eol)
	if out.n > 0 {
		out.put(bitCode{0, uint8(8 - out.n)})
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("g4: %w", err)
	}
	return nil
}

// encodeRow codes one row c against the reference row r (T.6 section 2.2).
// Colour of the changing element with index j is black for even j.
func encodeRow(out *bitWriter, c, r []int, width int) {
	a0, colour := -1, 0
	ia, ib := 0, 0
	for {
		for c[ia] <= a0 {
			ia++
		}
		a1 := c[ia]
		for r[ib] <= a0 {
			ib++
		}
		jb := ib
		if jb&1 != colour {
			jb++
		}
		b1, b2 := r[jb], r[jb+1]
		switch d := a1 - b1; {
		case b2 < a1:
			out.put(pass)
			a0 = b2
		case d >= -3 && d <= 3:
			out.put(vert[d+3])
			a0 = a1
			colour ^= 1
		default:
			a2 := c[ia+1]
			out.put(horz)
			start := max(a0, 0)
			if colour == 0 {
				out.run(a1-start, &white)
				out.run(a2-a1, &black)
			} else {
				out.run(a1-start, &black)
				out.run(a2-a1, &white)
			}
			a0 = a2
		}
		if a0 >= width {
			return
		}
	}
}

package jpegdec

import "encoding/binary"

// lookBits is how many bits the Huffman look-up tables resolve at once.
const lookBits = 11

// huffman is one decoding table: a look-up of the first lookBits bits,
// and for AC tables the coefficients that fit in them whole (code and
// extra bits), as stb_image does; longer codes go the canonical way.
type huffman struct {
	look    [1 << lookBits]uint16 // length<<8 | symbol; 0: longer code
	fast    [1 << lookBits]int32  // AC: value<<16 | run<<8 | total length; 0: none
	maxcode [17]int32             // largest code of each length, -1 if none
	valoff  [17]int32             // index into vals of a code of that length, minus the code
	vals    [256]byte
}

func newHuffman(counts [16]int, vals []byte, ac bool) (*huffman, error) {
	h := &huffman{}
	copy(h.vals[:], vals)
	code, k := int32(0), int32(0)
	for l := 1; l <= 16; l++ {
		n := int32(counts[l-1])
		h.valoff[l] = k - code
		if n == 0 {
			h.maxcode[l] = -1
		} else {
			h.maxcode[l] = code + n - 1
		}
		if code+n > 1<<l {
			return nil, errf("Huffman table overfull")
		}
		for i := int32(0); i < n; i++ {
			if l <= lookBits {
				c := code << (lookBits - l)
				for j := int32(0); j < 1<<(lookBits-l); j++ {
					h.look[c+j] = uint16(l)<<8 | uint16(vals[k])
				}
			}
			code++
			k++
		}
		code <<= 1
	}
	for i := range h.look {
		e := h.look[i]
		if !ac || e == 0 {
			continue
		}
		l, rs := int(e>>8), int(e&0xff)
		run, s := rs>>4, rs&15
		if s == 0 || l+s > lookBits {
			continue
		}
		v := (i >> (lookBits - l - s)) & (1<<s - 1)
		h.fast[i] = int32(extend(v, s))<<16 | int32(run)<<8 | int32(l+s)
	}
	return h, nil
}

// extend turns s received bits into the coefficient they code.
func extend(v, s int) int {
	if v < 1<<(s-1) {
		return v - 1<<s + 1
	}
	return v
}

// bitReader reads the entropy-coded segment: bytes unstuffed, bits
// left-aligned in acc. At a marker or the end of the data it feeds zero
// bytes and counts them, so reading past the real data is noticed.
type bitReader struct {
	data   []byte
	pos    int
	acc    uint64
	n      uint
	pad    int
	marker bool
}

func (b *bitReader) fill() {
	// Fast path: the next eight bytes hold no 0xff (no stuffing, no
	// marker), so as many as fit go in at once.
	if !b.marker && b.pos+8 <= len(b.data) {
		x := binary.BigEndian.Uint64(b.data[b.pos:])
		if y := ^x; (y-0x0101010101010101)&^y&0x8080808080808080 == 0 {
			k := (64 - b.n) / 8
			b.acc |= x >> b.n
			b.acc &^= (1<<(64-b.n-8*k) - 1) // keep whole bytes only
			b.pos += int(k)
			b.n += 8 * k
			return
		}
	}
	for b.n <= 56 {
		var c byte
		switch {
		case b.marker || b.pos >= len(b.data):
			b.marker = true
			b.pad++
		case b.data[b.pos] != 0xff:
			c = b.data[b.pos]
			b.pos++
		case b.pos+1 < len(b.data) && b.data[b.pos+1] == 0:
			c = 0xff
			b.pos += 2
		default:
			b.marker = true // stay on the marker
			b.pad++
		}
		b.acc |= uint64(c) << (56 - b.n)
		b.n += 8
	}
}

// overrun says whether bits past the real data were consumed.
func (b *bitReader) overrun() bool { return b.pad*8 > int(b.n) }

// end is where the data after the scan starts.
func (b *bitReader) end() int { return b.pos }

// restart skips the RSTn marker that must come now and resets the reader.
func (b *bitReader) restart() error {
	if b.overrun() {
		return errf("scan data ends early")
	}
	if b.pos+1 >= len(b.data) || b.data[b.pos] != 0xff || b.data[b.pos+1] < 0xd0 || b.data[b.pos+1] > 0xd7 {
		return errf("missing restart marker")
	}
	b.pos += 2
	b.acc, b.n, b.pad, b.marker = 0, 0, 0, false
	return nil
}

func (b *bitReader) consume(l uint) {
	b.acc <<= l
	b.n -= l
}

func (b *bitReader) get(s int) int {
	v := int(b.acc >> (64 - uint(s)))
	b.consume(uint(s))
	return v
}

func (b *bitReader) sym(h *huffman) (int, error) {
	if e := h.look[b.acc>>(64-lookBits)]; e != 0 {
		b.consume(uint(e >> 8))
		return int(e & 0xff), nil
	}
	for l := lookBits + 1; l <= 16; l++ {
		code := int32(b.acc >> (64 - uint(l)))
		if code <= h.maxcode[l] {
			b.consume(uint(l))
			i := h.valoff[l] + code
			if i < 0 || i > 255 {
				return 0, errf("bad Huffman code")
			}
			return int(h.vals[i]), nil
		}
	}
	return 0, errf("bad Huffman code")
}

// block decodes one block's coefficients into blk (natural order, blk
// zero on entry); pred is the component's DC predictor. With rec, every
// coefficient set (the DC always) is also appended to it as
// position<<16 | value. The bit buffer lives in locals in the hot loop.
func (b *bitReader) block(dc, ac *huffman, blk *[64]int16, pred *int, rec *[]uint32) error {
	if b.n < 32 {
		b.fill()
	}
	t, err := b.sym(dc)
	if err != nil {
		return err
	}
	if t > 11 {
		return errf("DC size %d", t)
	}
	if t > 0 {
		*pred += extend(b.get(t), t)
	}
	blk[0] = int16(*pred)
	var r []uint32
	if rec != nil {
		r = append(*rec, uint32(uint16(blk[0])))
	}
	acc, n := b.acc, b.n
	for k := 1; k < 64; {
		// An AC code and its extra bits take at most 16+10 bits.
		if n < 26 {
			b.acc, b.n = acc, n
			b.fill()
			acc, n = b.acc, b.n
		}
		if f := ac.fast[acc>>(64-lookBits)]; f != 0 {
			k += int(f >> 8 & 0xff)
			if k > 63 {
				return errf("coefficient run past the block")
			}
			l := uint(f & 0xff)
			acc <<= l
			n -= l
			z := zigzag[k&63] & 63
			v := int16(f >> 16)
			blk[z] = v
			if rec != nil {
				r = append(r, uint32(z)<<16|uint32(uint16(v)))
			}
			k++
			continue
		}
		b.acc, b.n = acc, n
		rs, err := b.sym(ac)
		if err != nil {
			return err
		}
		rr, s := rs>>4, rs&15
		if s == 0 {
			acc, n = b.acc, b.n
			if rr != 15 {
				break // end of block
			}
			k += 16
			continue
		}
		k += rr
		if k > 63 || s > 10 {
			return errf("coefficient run past the block")
		}
		v := int16(extend(b.get(s), s))
		acc, n = b.acc, b.n
		z := zigzag[k&63] & 63
		blk[z] = v
		if rec != nil {
			r = append(r, uint32(z)<<16|uint32(uint16(v)))
		}
		k++
	}
	b.acc, b.n = acc, n
	if rec != nil {
		*rec = r
	}
	return nil
}

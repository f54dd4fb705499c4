// Package sim is a simulated receipt printer: it interprets the ESC/POS
// bytes it is sent, as a thermal printer does, and renders every cut
// receipt into an image (PNG on request), so a test or a person can see
// exactly what a real printer would print. It answers the real-time status
// requests (DLE EOT) and the USB GET_PORT_STATUS byte from a state the test
// sets (paper out, cover open, offline).
//
// A Printer is both ends: as a printer.Printer it encodes receipts with
// package escpos and feeds them to itself (the simulated appliance), and
// its Write, Read and PortStatus methods are the device end a fake USB
// device puts behind its bulk endpoints, so the real escpos driver can be
// run against it.
package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gomono"
	"golang.org/x/image/font/gofont/gomonobold"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
	"golang.org/x/text/encoding/charmap"

	"github.com/einwurf/einwurf/drivers/printer"
	"github.com/einwurf/einwurf/drivers/printer/escpos"
)

// ErrCommand means the printer was sent bytes it does not understand; a
// strict simulator, so the driver's mistakes show.
var ErrCommand = errors.New("sim: unknown or malformed ESC/POS command")

// Font A cell and the default line pitch (ESC 2), in dots.
const (
	cellW    = 12
	cellH    = 24
	lineStep = 30
	// maxHeight bounds one receipt (about 2.5 m of paper at 203 dpi).
	maxHeight = 20000
)

// Printer is a simulated ESC/POS printer.
type Printer struct {
	profile escpos.Profile
	faces   [2]font.Face // regular, bold

	mu       sync.Mutex
	status   printer.Status
	pend     []byte // an incomplete command carried to the next Write
	replies  []byte // answers to DLE EOT waiting for a bulk IN read
	err      error
	dropped  int
	received int
	// the receipt being printed
	rows     []*image.Gray
	line     []glyph
	align    int
	bold     bool
	wide     int
	high     int
	charset  *charmap.Charmap
	receipts []*image.Gray
	text     []rune // of all lines printed, for tests
}

type glyph struct {
	r          rune
	bold       bool
	wide, high int
}

var _ printer.Printer = (*Printer)(nil)

// New returns a ready printer with profile p's paper width.
func New(p escpos.Profile) (*Printer, error) {
	reg, err := face(gomono.TTF)
	if err != nil {
		return nil, err
	}
	bold, err := face(gomonobold.TTF)
	if err != nil {
		return nil, err
	}
	s := &Printer{profile: p, faces: [2]font.Face{reg, bold}, status: printer.Status{Online: true}}
	s.reset()
	return s, nil
}

func face(ttf []byte) (font.Face, error) {
	f, err := opentype.Parse(ttf)
	if err != nil {
		return nil, fmt.Errorf("sim: font: %w", err)
	}
	fc, err := opentype.NewFace(f, &opentype.FaceOptions{Size: 20, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return nil, fmt.Errorf("sim: font: %w", err)
	}
	return fc, nil
}

// SetStatus sets what the printer reports and whether it prints.
func (s *Printer) SetStatus(st printer.Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = st
}

// Status implements printer.Printer.
func (s *Printer) Status(ctx context.Context) (printer.Status, error) {
	if err := ctx.Err(); err != nil {
		return printer.Status{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status, nil
}

// Print implements printer.Printer: it encodes r for its profile and
// prints the bytes.
func (s *Printer) Print(ctx context.Context, r printer.Receipt) error {
	st, err := s.Status(ctx)
	if err != nil {
		return err
	}
	if err := st.Err(); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	b, err := escpos.Encode(r, s.profile)
	if err != nil {
		return err
	}
	if _, err := s.Write(b); err != nil {
		return err
	}
	return s.Err()
}

// PortStatus is the GET_PORT_STATUS byte.
func (s *Printer) PortStatus() byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return escpos.PortStatus(s.status)
}

// Read hands out the answers to real-time status requests, as the bulk IN
// endpoint does; 0 bytes means nothing is waiting.
func (s *Printer) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := copy(p, s.replies)
	s.replies = s.replies[n:]
	return n, nil
}

// Write takes bytes as the bulk OUT endpoint does. Real-time requests are
// answered in any state; while the printer is not ready (paper out, cover
// open, offline) everything else is dropped, as a printer that stopped
// would lose it. An unknown command is remembered in Err and the rest of
// that Write is dropped.
func (s *Printer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received += len(p)
	buf := append(s.pend, p...)
	s.pend = nil
	i := 0
	for i < len(buf) {
		n, err := s.step(buf[i:])
		if err != nil {
			if s.err == nil {
				s.err = err
			}
			return len(p), nil
		}
		if n == 0 { // incomplete: wait for more
			s.pend = append([]byte(nil), buf[i:]...)
			break
		}
		i += n
	}
	return len(p), nil
}

// Err is the first command error seen, or nil.
func (s *Printer) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Dropped counts bytes dropped because the printer was not ready.
func (s *Printer) Dropped() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// Received counts bytes written to the printer.
func (s *Printer) Received() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received
}

// Text returns the characters of every line printed so far, as decoded
// from the code pages the printer was told to use, one line each.
func (s *Printer) Text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.text)
}

// Receipts returns the receipts cut so far.
func (s *Printer) Receipts() []image.Image {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]image.Image, len(s.receipts))
	for i, r := range s.receipts {
		out[i] = r
	}
	return out
}

// PNG returns receipt i as PNG.
func (s *Printer) PNG(i int) ([]byte, error) {
	rs := s.Receipts()
	if i < 0 || i >= len(rs) {
		return nil, fmt.Errorf("sim: no receipt %d", i)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, rs[i]); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	return b.Bytes(), nil
}

func (s *Printer) reset() {
	s.align, s.bold, s.wide, s.high, s.charset = 0, false, 1, 1, charmap.CodePage437
}

func (s *Printer) printing() bool { return s.status.Err() == nil }

// step interprets one command or character at the start of b and returns
// how many bytes it took (0: incomplete).
func (s *Printer) step(b []byte) (int, error) {
	need := func(n int) bool { return len(b) >= n }
	c := b[0]
	if c == 0x10 { // DLE: real-time, always answered
		if !need(3) {
			return 0, nil
		}
		if b[1] != 0x04 || b[2] < 1 || b[2] > 4 {
			return 0, fmt.Errorf("%w: DLE %#02x %#02x", ErrCommand, b[1], b[2])
		}
		s.replies = append(s.replies, s.realtime(b[2]))
		return 3, nil
	}
	n, err := s.command(b)
	if err != nil || n == 0 {
		return n, err
	}
	if !s.printing() {
		s.dropped += n
		return n, nil
	}
	return n, s.execute(b[:n])
}

// command returns the length of the command at the start of b.
func (s *Printer) command(b []byte) (int, error) {
	switch b[0] {
	case 0x1b: // ESC
		if len(b) < 2 {
			return 0, nil
		}
		switch b[1] {
		case '@':
			return 2, nil
		case 't', 'a', 'E', 'd', '!':
			if len(b) < 3 {
				return 0, nil
			}
			return 3, nil
		}
		return 0, fmt.Errorf("%w: ESC %#02x", ErrCommand, b[1])
	case 0x1d: // GS
		if len(b) < 2 {
			return 0, nil
		}
		switch b[1] {
		case '!':
			if len(b) < 3 {
				return 0, nil
			}
			return 3, nil
		case 'V':
			if len(b) < 3 {
				return 0, nil
			}
			if b[2] == 65 || b[2] == 66 {
				if len(b) < 4 {
					return 0, nil
				}
				return 4, nil
			}
			return 3, nil
		case 'v':
			if len(b) < 8 {
				return 0, nil
			}
			if b[2] != '0' || b[3]&^0x30 > 3 {
				return 0, fmt.Errorf("%w: GS v %#02x", ErrCommand, b[2])
			}
			xb, h := int(b[4])|int(b[5])<<8, int(b[6])|int(b[7])<<8
			if xb == 0 || h == 0 || xb*8 > s.profile.Dots || h > maxHeight {
				return 0, fmt.Errorf("%w: raster %d×%d", ErrCommand, xb*8, h)
			}
			n := 8 + xb*h
			if len(b) < n {
				return 0, nil
			}
			return n, nil
		}
		return 0, fmt.Errorf("%w: GS %#02x", ErrCommand, b[1])
	}
	if b[0] < 0x20 && b[0] != 0x0a {
		return 0, fmt.Errorf("%w: control byte %#02x", ErrCommand, b[0])
	}
	return 1, nil
}

func (s *Printer) execute(b []byte) error {
	switch b[0] {
	case 0x0a:
		s.newline()
		return nil
	case 0x1b:
		switch b[1] {
		case '@':
			s.reset()
		case 't':
			cs, ok := s.profile.Charset(int(b[2]))
			if !ok {
				return fmt.Errorf("%w: code page %d", ErrCommand, b[2])
			}
			s.charset = cs
		case 'a':
			s.align = int(b[2] & 0x0f % 3)
		case 'E':
			s.bold = b[2]&1 != 0
		case 'd':
			for range b[2] {
				s.newline()
			}
		case '!':
			s.bold = b[2]&0x08 != 0
			s.high = 1 + int(b[2]>>4&1)
			s.wide = 1 + int(b[2]>>5&1)
		}
		return nil
	case 0x1d:
		switch b[1] {
		case '!':
			s.wide = 1 + int(b[2]>>4&7)
			s.high = 1 + int(b[2]&7)
		case 'V':
			s.cut()
		case 'v':
			s.raster(b)
		}
		return nil
	}
	r := s.charset.DecodeByte(b[0])
	s.line = append(s.line, glyph{r: r, bold: s.bold, wide: s.wide, high: s.high})
	return nil
}

func (s *Printer) height() int {
	h := 0
	for _, r := range s.rows {
		h += r.Bounds().Dy()
	}
	return h
}

func (s *Printer) add(img *image.Gray) {
	if s.height()+img.Bounds().Dy() > maxHeight {
		return
	}
	s.rows = append(s.rows, img)
}

// newline prints the line buffer (an empty one feeds one line).
func (s *Printer) newline() {
	hi := 1
	width := 0
	for _, g := range s.line {
		hi = max(hi, g.high)
		width += cellW * g.wide
	}
	step := lineStep + cellH*(hi-1)
	img := white(s.profile.Dots, step)
	x := s.left(width)
	for _, g := range s.line {
		if x+cellW*g.wide > s.profile.Dots {
			break // a real printer wraps; the encoder never sends this
		}
		s.glyph(img, x, cellH*(hi-g.high), g)
		x += cellW * g.wide
	}
	for _, g := range s.line {
		s.text = append(s.text, g.r)
	}
	s.text = append(s.text, '\n')
	s.line = s.line[:0]
	s.add(img)
}

// left is where a line of width dots starts under the current alignment.
func (s *Printer) left(width int) int {
	switch s.align {
	case 1:
		return max((s.profile.Dots-width)/2, 0)
	case 2:
		return max(s.profile.Dots-width, 0)
	}
	return 0
}

// glyph draws g's cell, scaled by nearest neighbour, at (x, y) in dst.
func (s *Printer) glyph(dst *image.Gray, x, y int, g glyph) {
	cell := white(cellW, cellH)
	f := s.faces[0]
	if g.bold {
		f = s.faces[1]
	}
	d := font.Drawer{Dst: cell, Src: image.Black, Face: f, Dot: fixed.P(0, 19)}
	d.DrawString(string(g.r))
	for cy := range cellH * g.high {
		for cx := range cellW * g.wide {
			v := cell.GrayAt(cx/g.wide, cy/g.high).Y
			if v < 128 { // a thermal dot is on or off
				dst.SetGray(x+cx, y+cy, color.Gray{0})
			}
		}
	}
}

// raster prints a GS v 0 image.
func (s *Printer) raster(b []byte) {
	if len(s.line) > 0 {
		s.newline()
	}
	m := b[3] &^ 0x30
	sx, sy := 1+int(m&1), 1+int(m>>1&1)
	xb, h := int(b[4])|int(b[5])<<8, int(b[6])|int(b[7])<<8
	data := b[8:]
	w := min(xb*8*sx, s.profile.Dots)
	img := white(s.profile.Dots, h*sy)
	x0 := s.left(w)
	for y := range h * sy {
		row := data[(y/sy)*xb:]
		for x := range w {
			px := x / sx
			if row[px/8]&(0x80>>(px%8)) != 0 {
				img.SetGray(x0+x, y, color.Gray{0})
			}
		}
	}
	s.add(img)
}

// cut finishes the receipt.
func (s *Printer) cut() {
	if len(s.line) > 0 {
		s.newline()
	}
	h := s.height()
	if h == 0 {
		return
	}
	out := white(s.profile.Dots, h)
	y := 0
	for _, r := range s.rows {
		draw.Draw(out, image.Rect(0, y, s.profile.Dots, y+r.Bounds().Dy()), r, image.Point{}, draw.Src)
		y += r.Bounds().Dy()
	}
	s.rows = nil
	s.receipts = append(s.receipts, out)
}

func (s *Printer) realtime(n byte) byte {
	a := escpos.RealtimeAnswer(s.status)
	switch n {
	case 1:
		return a[0]
	case 2:
		return a[1]
	case 4:
		return a[2]
	}
	return 0x12 // n=3, error cause: none
}

func white(w, h int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	return img
}

package escpos

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/makiuchi-d/gozxing/qrcode/decoder"
	"github.com/makiuchi-d/gozxing/qrcode/encoder"
	"golang.org/x/text/encoding/charmap"

	"github.com/einwurf/einwurf/drivers/printer"
)

// ESC/POS command bytes used here (Epson ESC/POS command reference).
const (
	esc = 0x1b
	gs  = 0x1d
	dle = 0x10
	eot = 0x04
	lf  = 0x0a
)

// Profile is what the encoder needs to know of a printer model: the paper's
// printable width in dots and in Font A columns, its character tables
// (ESC t numbers differ between makers), the QR module size in dots and the
// feed before the cutter.
type Profile struct {
	Dots          int        `json:"dots"`
	Columns       int        `json:"columns"`
	CodePages     []CodePage `json:"codepages"`
	QRModule      int        `json:"qr_module"`
	FeedBeforeCut int        `json:"feed_before_cut"`
	// Font, when set, draws the lines none of CodePages can carry
	// (Arabic, shaped and right to left) as raster images; without it
	// their characters print as '?'. It is the kiosk's, not the
	// profile file's (SystemFont).
	Font *Font `json:"-"`
}

// CodePage is one character table of a printer: its ESC t number and the
// character set it holds. The first of a profile's is the default; the
// others are switched to for characters it lacks (Turkish, Cyrillic).
type CodePage struct {
	N       int    `json:"n"`
	Charset string `json:"charset"`
}

// charsets are the character sets profiles may name.
var charsets = map[string]*charmap.Charmap{
	"cp437": charmap.CodePage437, "cp850": charmap.CodePage850, "cp852": charmap.CodePage852,
	"cp858": charmap.CodePage858, "cp866": charmap.CodePage866,
	"windows-1250": charmap.Windows1250, "windows-1251": charmap.Windows1251,
	"windows-1252": charmap.Windows1252, "windows-1254": charmap.Windows1254,
}

// Charset returns the character set of the profile's table n; table 0 is
// PC437, every printer's power-on table.
func (p Profile) Charset(n int) (*charmap.Charmap, bool) {
	for _, c := range p.CodePages {
		if c.N == n {
			cs, ok := charsets[c.Charset]
			return cs, ok
		}
	}
	if n == 0 {
		return charmap.CodePage437, true
	}
	return nil, false
}

func (p Profile) check() error {
	if p.Dots <= 0 || p.Dots%8 != 0 || p.Columns <= 0 || p.QRModule <= 0 || len(p.CodePages) == 0 {
		return fmt.Errorf("escpos: bad profile geometry or no code pages")
	}
	for _, c := range p.CodePages {
		if _, ok := charsets[c.Charset]; !ok || c.N < 0 || c.N > 255 {
			return fmt.Errorf("escpos: profile code page %d %q", c.N, c.Charset)
		}
	}
	return nil
}

//go:embed profiles.json
var profilesJSON []byte

// Profiles are the known printer profiles by name, from profiles.json.
func Profiles() (map[string]Profile, error) {
	var m map[string]Profile
	if err := json.Unmarshal(profilesJSON, &m); err != nil {
		return nil, fmt.Errorf("escpos: profiles.json: %w", err)
	}
	for n, p := range m {
		if err := p.check(); err != nil {
			return nil, fmt.Errorf("%w (profile %q)", err, n)
		}
	}
	return m, nil
}

// DefaultProfile is the 80 mm profile most kiosk printers have.
func DefaultProfile() Profile {
	m, err := Profiles()
	if err != nil {
		// The embedded file is checked by the tests; this cannot happen in
		// a build that passed them.
		return Profile{Dots: 576, Columns: 48, CodePages: []CodePage{{19, "cp858"}}, QRModule: 4, FeedBeforeCut: 4}
	}
	return m["80mm"]
}

// Encode renders r as the ESC/POS byte stream of one receipt, ending with
// a feed and a partial cut. Text goes out in the profile's first code page,
// switching to another of its tables for a character that one lacks; a
// character none holds prints as '?'. Control characters in r are replaced, so no
// field can smuggle a command to the printer. The QR code is sent as a
// raster image (GS v 0), which every ESC/POS printer prints the same way,
// whatever its own QR support.
func Encode(r printer.Receipt, p Profile) ([]byte, error) {
	if err := r.Check(); err != nil {
		return nil, err
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	l := r.Labels.WithDefaults()
	w := &writer{cols: p.Columns, dots: p.Dots, font: p.Font}
	for _, c := range p.CodePages {
		w.cps = append(w.cps, table{byte(c.N), charsets[c.Charset]})
	}
	if all := l.Title + l.Time + l.Number + l.Team + l.Pages + l.Code + l.Footer; !w.encodable(all) && (p.Font == nil || !p.Font.Has(all)) {
		// The tables cannot carry the customer's language and there is
		// no font to draw it: German, not a receipt of question marks
		// or empty boxes.
		tz := l.TimeZone
		l = printer.German
		l.TimeZone = tz
	}
	w.raw(esc, '@')
	w.raw(esc, 't', w.cps[0].n)

	w.align(1)
	if r.Office != "" {
		w.size(2, 2)
		w.text(r.Office)
		w.size(1, 1)
	}
	if r.Kiosk != "" {
		w.text(r.Kiosk)
	}
	w.raw(lf)
	w.bold(true)
	w.text(l.Title)
	w.bold(false)
	w.align(0)
	w.text(strings.Repeat("-", p.Columns))
	t := r.Time
	if l.TimeZone != nil {
		t = t.In(l.TimeZone)
	}
	w.pair(l.Time, t.Format(l.Layout))
	if r.Masked != "" {
		w.pair(l.Number, r.Masked)
	}
	if r.Team != "" {
		w.pair(l.Team, r.Team)
	}
	w.pair(l.Pages, strconv.Itoa(r.Pages))
	w.text(strings.Repeat("-", p.Columns))
	w.align(1)
	w.text(l.Code)
	w.size(2, 2)
	w.bold(true)
	w.text(r.Code)
	w.bold(false)
	w.size(1, 1)
	if r.QR != "" {
		img, err := QRRaster(r.QR, p.QRModule, p.Dots)
		if err != nil {
			return nil, err
		}
		w.raw(lf)
		w.raster(img)
		w.text(l.Footer)
	}
	w.align(0)
	w.raw(esc, 'd', byte(p.FeedBeforeCut))
	w.raw(gs, 'V', 1)
	if w.err != nil {
		return nil, w.err
	}
	return w.b, nil
}

// Raster is a 1-bit image as GS v 0 sends it: rows of Width/8 bytes, the
// most significant bit leftmost, 1 = black.
type Raster struct {
	Width, Height int // dots; Width is a multiple of 8
	Bits          []byte
}

// QRRaster encodes s as a QR code (error correction M, byte or
// alphanumeric mode as s allows) with module dots per module and a quiet
// zone of four modules. It fails if the code is wider than maxDots.
func QRRaster(s string, module, maxDots int) (Raster, error) {
	qr, err := encoder.Encoder_encodeWithoutHint(s, decoder.ErrorCorrectionLevel_M)
	if err != nil {
		return Raster{}, fmt.Errorf("%w: qr: %v", printer.ErrReceipt, err)
	}
	m := qr.GetMatrix()
	n := m.GetWidth()
	side := (n + 8) * module
	if side > maxDots {
		return Raster{}, fmt.Errorf("%w: qr code of %d modules is wider than the paper", printer.ErrReceipt, n)
	}
	wb := (side + 7) / 8
	img := Raster{Width: wb * 8, Height: side, Bits: make([]byte, wb*side)}
	for y := range n {
		for x := range n {
			if m.Get(x, y) != 1 {
				continue
			}
			for dy := range module {
				row := (4*module + y*module + dy) * wb
				for dx := range module {
					px := 4*module + x*module + dx
					img.Bits[row+px/8] |= 0x80 >> (px % 8)
				}
			}
		}
	}
	return img, nil
}

// writer accumulates ESC/POS bytes.
type writer struct {
	b    []byte
	cols int
	dots int
	font *Font
	// alignment and emphasis as last set, for lines drawn as images
	just   byte
	strong bool
	wide   int
	err    error
	cps    []table
	cur    int // index into cps of the table selected
}

type table struct {
	n  byte
	cs *charmap.Charmap
}

func (w *writer) raw(b ...byte) { w.b = append(w.b, b...) }

func (w *writer) align(n byte) { w.just = n; w.raw(esc, 'a', n) }

func (w *writer) bold(on bool) {
	w.strong = on
	if on {
		w.raw(esc, 'E', 1)
	} else {
		w.raw(esc, 'E', 0)
	}
}

// size sets the character size, 1..8 times in each direction.
func (w *writer) size(wide, high int) {
	w.wide = wide
	w.raw(gs, '!', byte((wide-1)<<4|(high-1)))
}

// text prints s wrapped to the line width.
func (w *writer) text(s string) {
	if w.font != nil && !w.encodable(clean(s)) {
		w.drawText(clean(s))
		return
	}
	cols := w.cols / max(w.wide, 1)
	for _, line := range wrap(clean(s), cols) {
		w.encode(line)
		w.raw(lf)
	}
}

// pair prints label and value on one line, the value right-aligned; a
// value that does not fit goes on its own line.
func (w *writer) pair(label, value string) {
	label, value = clean(label), clean(value)
	if w.font != nil && (!w.encodable(label) || !w.encodable(value)) {
		w.drawPair(label, value)
		return
	}
	ln, vn := utf8.RuneCountInString(label), utf8.RuneCountInString(value)
	if ln+1+vn <= w.cols {
		w.encode(label + strings.Repeat(" ", w.cols-ln-vn) + value)
		w.raw(lf)
		return
	}
	w.text(label)
	for _, line := range wrap(value, w.cols) {
		n := utf8.RuneCountInString(line)
		w.encode(strings.Repeat(" ", w.cols-n) + line)
		w.raw(lf)
	}
}

// raster prints img with GS v 0 (normal density).
func (w *writer) raster(img Raster) {
	xb := img.Width / 8
	w.raw(gs, 'v', '0', 0, byte(xb), byte(xb>>8), byte(img.Height), byte(img.Height>>8))
	w.raw(img.Bits...)
}

// clean replaces control characters, so no text can carry a command.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == utf8.RuneError {
			return '?'
		}
		return r
	}, s)
}

// encode writes s in the selected table, switching (ESC t) to another
// of the profile's for a character it lacks; '?' where none has it.
func (w *writer) encode(s string) {
	for _, r := range s {
		b, ok := w.cps[w.cur].cs.EncodeRune(r)
		if !ok {
			for i, t := range w.cps {
				if c, found := t.cs.EncodeRune(r); found {
					w.cur, b, ok = i, c, true
					w.raw(esc, 't', t.n)
					break
				}
			}
		}
		if !ok {
			b = '?'
		}
		w.raw(b)
	}
}

// wrap breaks s into lines of at most n runes, at spaces where it can.
func wrap(s string, n int) []string {
	if n <= 0 {
		return nil
	}
	var out []string
	for _, para := range strings.Split(s, "\n") {
		rs := []rune(strings.TrimSpace(para))
		for len(rs) > n {
			cut := n
			for i := n; i > n/2; i-- {
				if rs[i] == ' ' {
					cut = i
					break
				}
			}
			out = append(out, strings.TrimSpace(string(rs[:cut])))
			rs = []rune(strings.TrimSpace(string(rs[cut:])))
		}
		out = append(out, string(rs))
	}
	return out
}

// encodable reports whether one of the profile's tables holds every
// character of s.
func (w *writer) encodable(s string) bool {
	for _, r := range s {
		found := false
		for _, t := range w.cps {
			if _, ok := t.cs.EncodeRune(r); ok {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// drawText draws s with the font, wrapped to the paper, as the text
// would be aligned: centred, or at the start of its own direction.
func (w *writer) drawText(s string) {
	scale := max(w.wide, 1)
	for _, line := range w.font.wrapDots(s, w.dots, scale) {
		v, rtl := Visual(line)
		x := 0
		switch wd := w.font.width(v, scale); {
		case w.just == 1:
			x = (w.dots - wd) / 2
		case w.just == 2 || rtl:
			x = w.dots - wd
		}
		w.drawLine(scale, placed{v, max(x, 0)})
	}
}

// drawPair draws label and value on one line: the label at the start of
// its direction (the right, for Arabic), the value at the other end.
func (w *writer) drawPair(label, value string) {
	vl, rtl := Visual(label)
	vv, _ := Visual(value)
	wl, wv := w.font.width(vl, 1), w.font.width(vv, 1)
	if wl+wv+w.dots/24 > w.dots {
		w.drawText(label)
		w.drawText(value)
		return
	}
	if rtl {
		w.drawLine(1, placed{vl, w.dots - wl}, placed{vv, 0})
	} else {
		w.drawLine(1, placed{vl, 0}, placed{vv, w.dots - wv})
	}
}

func (w *writer) drawLine(scale int, pieces ...placed) {
	img, err := w.font.lineRaster(w.dots, scale, w.strong, pieces)
	if err != nil {
		if w.err == nil {
			w.err = err
		}
		return
	}
	w.raster(img)
}

// Package wiegand reads card numbers from a Wiegand reader on two GPIO
// lines (D0, D1). Both lines idle high; the reader sends a 0 bit as a short
// low pulse on D0 and a 1 bit as one on D1, a frame being a burst of such
// pulses followed by silence. The edges of both lines come from one
// board.EdgeSource, so the decoder sees them in the order the kernel did.
//
// Pulses outside the timing window are noise and are counted and dropped;
// frames of the wrong length, with a parity error or whose number does not
// fit are counted and never delivered.
package wiegand

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/einwurf/einwurf/board"
	"github.com/einwurf/einwurf/drivers/barcode"
	"periph.io/x/conn/v3/gpio"
)

// Format is one frame format the decoder accepts.
type Format struct {
	// Name names the format in logs, e.g. "H10301".
	Name string
	// Bits is the frame length including parity bits (at most 66).
	Bits int
	// Parity means the first bit is even parity over the first half of the
	// data bits and the last bit odd parity over the second half.
	Parity bool
	// Digits, when not 0, is the decimal width of the number: shorter
	// numbers are zero-padded, longer ones are invalid.
	Digits int
}

// dataBits returns how many bits carry the number.
func (f Format) dataBits() int {
	if f.Parity {
		return f.Bits - 2
	}
	return f.Bits
}

// Standard formats.
var (
	// Format26 is the 26-bit format (H10301): even parity, 24 data bits
	// (read as one number here), odd parity.
	Format26 = Format{Name: "26-bit", Bits: 26, Parity: true, Digits: 8}
	// Format34 is the 34-bit format: even parity, 32 data bits, odd parity.
	Format34 = Format{Name: "34-bit", Bits: 34, Parity: true, Digits: 10}
)

// Timing is the window a pulse and the gaps must fall in.
type Timing struct {
	// MinPulse and MaxPulse bound the width of a low pulse; a pulse
	// outside is noise. The standard pulse is 20-100 µs.
	MinPulse, MaxPulse time.Duration
	// MinGap is the shortest time from the end of one pulse to the start
	// of the next; a closer pulse is noise.
	MinGap time.Duration
	// FrameGap is the silence that ends a frame.
	FrameGap time.Duration
}

// DefaultTiming fits readers that follow the usual 50 µs pulse, 1-2 ms bit
// interval signalling.
var DefaultTiming = Timing{
	MinPulse: 5 * time.Microsecond,
	MaxPulse: 500 * time.Microsecond,
	MinGap:   100 * time.Microsecond,
	FrameGap: 25 * time.Millisecond,
}

// Config configures a decoder.
type Config struct {
	// Formats lists the accepted frame formats; nil means Format26 and
	// Format34. Two formats must not have the same length.
	Formats []Format
	// Timing is the timing window; the zero value means DefaultTiming.
	Timing Timing
}

func (c Config) withDefaults() (Config, error) {
	if c.Formats == nil {
		c.Formats = []Format{Format26, Format34}
	}
	if c.Timing == (Timing{}) {
		c.Timing = DefaultTiming
	}
	seen := map[int]bool{}
	for _, f := range c.Formats {
		min := 1
		if f.Parity {
			min = 4
		}
		if f.Bits < min || f.dataBits() > 64 {
			return c, fmt.Errorf("wiegand: format %q: %d bits out of range", f.Name, f.Bits)
		}
		if f.Digits < 0 || f.Digits > 20 {
			return c, fmt.Errorf("wiegand: format %q: %d digits out of range", f.Name, f.Digits)
		}
		if seen[f.Bits] {
			return c, fmt.Errorf("wiegand: two formats of %d bits", f.Bits)
		}
		seen[f.Bits] = true
	}
	t := c.Timing
	if t.MinPulse < 0 || t.MaxPulse <= t.MinPulse || t.MinGap < 0 || t.FrameGap <= t.MinGap || t.FrameGap <= t.MaxPulse {
		return c, fmt.Errorf("wiegand: inconsistent timing %+v", t)
	}
	return c, nil
}

// Result is the outcome of one frame: a scan, or an error wrapping
// barcode.ErrFrame (truncated, overlong, parity) or barcode.ErrInvalid.
type Result struct {
	Scan barcode.Scan
	Err  error
}

// maxFrameBits bounds the bits kept of one frame; more is overlong anyway.
const maxFrameBits = 128

// Decoder turns edges of D0 (index 0) and D1 (index 1) into frames. It is a
// pure state machine, driven by Push and Flush; Reader drives it from an
// EdgeSource. A Decoder is not safe for concurrent use.
type Decoder struct {
	cfg     Config
	maxBits int

	low        [2]bool
	pulseStart [2]time.Time
	lastEnd    time.Time // end of the last accepted pulse
	lastEdge   time.Time
	haveEdge   bool

	bits    []byte // 0 or 1 per bit
	dropped int    // bits beyond maxFrameBits

	stats barcode.Stats
}

// NewDecoder returns a decoder for cfg.
func NewDecoder(cfg Config) (*Decoder, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	d := &Decoder{cfg: cfg, bits: make([]byte, 0, maxFrameBits)}
	for _, f := range cfg.Formats {
		d.maxBits = max(d.maxBits, f.Bits)
	}
	return d, nil
}

// Stats returns the counts so far.
func (d *Decoder) Stats() barcode.Stats { return d.stats }

// Pending reports whether a frame is in progress, so the caller knows to
// call Flush once FrameGap of silence has passed.
func (d *Decoder) Pending() bool {
	return len(d.bits) > 0 || d.dropped > 0 || d.low[0] || d.low[1]
}

// Push feeds one edge. When the edge comes more than FrameGap after the
// previous one, the frame before it is finished first and returned.
func (d *Decoder) Push(e board.Edge) (Result, bool) {
	var res Result
	var done bool
	if d.haveEdge && e.Time.Sub(d.lastEdge) > d.cfg.Timing.FrameGap {
		res, done = d.Flush()
	}
	d.lastEdge, d.haveEdge = e.Time, true
	if e.Index != 0 && e.Index != 1 {
		d.stats.Noise++
		return res, done
	}
	i, other := e.Index, 1-e.Index
	if e.Level == gpio.Low {
		if d.low[i] {
			// Two falling edges without a rising one: a lost edge.
			d.stats.Noise++
		}
		d.low[i] = true
		d.pulseStart[i] = e.Time
		return res, done
	}
	if !d.low[i] {
		// A rising edge without its falling one (e.g. the set was opened
		// mid-pulse).
		d.stats.Noise++
		return res, done
	}
	d.low[i] = false
	width := e.Time.Sub(d.pulseStart[i])
	t := d.cfg.Timing
	switch {
	case d.low[other]:
		// Both lines low at once is no bit either line could send.
		d.stats.Noise++
	case width < t.MinPulse || width > t.MaxPulse:
		d.stats.Noise++
	case len(d.bits)+d.dropped > 0 && d.pulseStart[i].Sub(d.lastEnd) < t.MinGap:
		d.stats.Noise++
	default:
		d.lastEnd = e.Time
		if len(d.bits) < maxFrameBits {
			d.bits = append(d.bits, byte(i))
		} else {
			d.dropped++
		}
	}
	return res, done
}

// Flush ends the frame in progress, as FrameGap of silence does, and
// returns its result if it had any bits.
func (d *Decoder) Flush() (Result, bool) {
	n := len(d.bits) + d.dropped
	bitsCopy := d.bits
	d.bits = d.bits[:0]
	d.dropped = 0
	d.low = [2]bool{}
	if n == 0 {
		return Result{}, false
	}
	res := d.decode(bitsCopy, n)
	switch {
	case res.Err == nil:
		d.stats.Good++
	case errors.Is(res.Err, ErrTruncated):
		d.stats.Truncated++
	case errors.Is(res.Err, ErrOverlong):
		d.stats.Overlong++
	case errors.Is(res.Err, ErrParity):
		d.stats.Checksum++
	default:
		d.stats.Invalid++
	}
	return res, true
}

// Frame errors. The first three wrap barcode.ErrFrame, ErrNumber wraps
// barcode.ErrInvalid.
var (
	// ErrTruncated: fewer bits than a format, or a length between formats.
	ErrTruncated = fmt.Errorf("wiegand: truncated frame: %w", barcode.ErrFrame)
	// ErrOverlong: more bits than the longest format.
	ErrOverlong = fmt.Errorf("wiegand: overlong frame: %w", barcode.ErrFrame)
	// ErrParity: a parity bit is wrong.
	ErrParity = fmt.Errorf("wiegand: parity error: %w", barcode.ErrFrame)
	// ErrNumber: the number has more digits than the format allows.
	ErrNumber = fmt.Errorf("wiegand: number does not fit: %w", barcode.ErrInvalid)
)

func (d *Decoder) decode(b []byte, n int) Result {
	var f *Format
	for i := range d.cfg.Formats {
		if d.cfg.Formats[i].Bits == n {
			f = &d.cfg.Formats[i]
		}
	}
	if f == nil {
		if n > d.maxBits {
			return Result{Err: fmt.Errorf("%w: %d bits", ErrOverlong, n)}
		}
		return Result{Err: fmt.Errorf("%w: %d bits", ErrTruncated, n)}
	}
	data := b
	if f.Parity {
		data = b[1 : n-1]
		half := len(data) / 2
		// With an odd count of data bits the middle one belongs to both
		// halves, as in the 37-bit H10304 layout.
		first, second := data[:(len(data)+1)/2], data[half:]
		if (ones(first)+int(b[0]))%2 != 0 {
			return Result{Err: fmt.Errorf("%w: leading (even) parity", ErrParity)}
		}
		if (ones(second)+int(b[n-1]))%2 != 1 {
			return Result{Err: fmt.Errorf("%w: trailing (odd) parity", ErrParity)}
		}
	}
	var v uint64
	for _, bit := range data {
		v = v<<1 | uint64(bit)
	}
	s := strconv.FormatUint(v, 10)
	if f.Digits > 0 {
		if len(s) > f.Digits {
			return Result{Err: fmt.Errorf("%w: %d digits, format allows %d", ErrNumber, len(s), f.Digits)}
		}
		s = strings.Repeat("0", f.Digits-len(s)) + s
	}
	return Result{Scan: barcode.Scan{Data: s, Symbology: barcode.SymbologyWiegand}}
}

func ones(b []byte) int {
	n := 0
	for _, x := range b {
		n += bits.OnesCount8(x)
	}
	return n
}

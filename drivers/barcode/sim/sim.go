// Package sim is a simulated barcode reader: codes are injected by the
// local UI (a "scan" button in simulation) or fed line by line from an
// io.Reader such as stdin. It implements barcode.Reader, so the kiosk runs
// the same code as with a real reader.
package sim

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"github.com/einwurf/einwurf/drivers/barcode"
)

// Queue and size limits. A real reader holds one code; a short queue lets
// a test inject several ahead without the UI blocking.
const (
	// QueueSize is how many codes wait for Read before Inject fails.
	QueueSize = 8
	// MaxLen is the longest code accepted, in bytes; real readers send at
	// most a few hundred.
	MaxLen = 256
)

// Errors Inject reports.
var (
	// ErrFull means QueueSize codes are waiting already.
	ErrFull = errors.New("barcode/sim: queue full")
	// ErrBadCode means the injected text is empty, too long, not UTF-8 or
	// holds control characters; nothing is queued.
	ErrBadCode = fmt.Errorf("barcode/sim: bad code: %w", barcode.ErrFrame)
	// ErrNotReading means the simulation set the reader's health to
	// something other than ok: a dead reader reads nothing.
	ErrNotReading = errors.New("barcode/sim: reader not working (simulated)")
	// ErrState means SetHealth was given a state no reader reports.
	ErrState = errors.New("barcode/sim: unknown reader state")
)

// Reader is a simulated barcode reader. It implements barcode.Reader,
// barcode.Counter and barcode.Checker; its health is what the simulation
// sets (SetHealth), so tests and make run can show every state. The zero
// value is not usable; call New.
type Reader struct {
	ch   chan barcode.Scan
	done chan struct{}
	// room is signalled after each Read so a waiting Feed retries.
	room      chan struct{}
	closeOnce sync.Once
	// mu orders Inject against Close so no send happens after close.
	mu     sync.RWMutex
	closed bool

	good, invalid, overlong, dropped atomic.Uint64
	// health is set by SetHealth (nil: ok).
	health atomic.Pointer[barcode.Health]
}

// New returns a simulated reader with an empty queue.
func New() *Reader {
	return &Reader{ch: make(chan barcode.Scan, QueueSize), done: make(chan struct{}), room: make(chan struct{}, 1)}
}

// check validates injected text: what a reader would never send is refused.
func check(data string) error {
	if data == "" {
		return fmt.Errorf("%w: empty", ErrBadCode)
	}
	if len(data) > MaxLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrBadCode, MaxLen)
	}
	if !utf8.ValidString(data) {
		return fmt.Errorf("%w: not UTF-8", ErrBadCode)
	}
	for _, r := range data {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: control character", ErrBadCode)
		}
	}
	return nil
}

// Inject queues data as a code read, without blocking. It fails with
// ErrBadCode for text no reader would send, ErrFull when the queue is full
// and barcode.ErrClosed after Close.
func (r *Reader) Inject(data string) error {
	if err := check(data); err != nil {
		if len(data) > MaxLen {
			r.overlong.Add(1)
		} else {
			r.invalid.Add(1)
		}
		return err
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return barcode.ErrClosed
	}
	if h := r.health.Load(); h != nil && !h.OK() {
		r.dropped.Add(1)
		return fmt.Errorf("%w: %s", ErrNotReading, h.State)
	}
	select {
	case r.ch <- barcode.Scan{Data: data, Symbology: barcode.SymbologyCode128}:
		r.good.Add(1)
		return nil
	default:
		r.dropped.Add(1)
		return ErrFull
	}
}

// Read returns the next injected code; it blocks until one is injected, ctx
// is done or the reader is closed. Codes queued before Close are still
// returned; after they are drained Read returns barcode.ErrClosed.
func (r *Reader) Read(ctx context.Context) (barcode.Scan, error) {
	// Queued codes first, so a Close right after an Inject loses nothing.
	select {
	case s := <-r.ch:
		return r.took(s), nil
	default:
	}
	select {
	case s := <-r.ch:
		return r.took(s), nil
	case <-r.done:
		select {
		case s := <-r.ch:
			return r.took(s), nil
		default:
			return barcode.Scan{}, barcode.ErrClosed
		}
	case <-ctx.Done():
		return barcode.Scan{}, ctx.Err()
	}
}

func (r *Reader) took(s barcode.Scan) barcode.Scan {
	select {
	case r.room <- struct{}{}:
	default:
	}
	return s
}

// Close stops the reader; waiting and later Reads return barcode.ErrClosed
// once the queue is empty. Close is idempotent.
func (r *Reader) Close() error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.closed = true
		r.mu.Unlock()
		close(r.done)
	})
	return nil
}

// Feed reads lines from in (stdin in simulation) and injects each non-empty
// line as a code, the way a keyboard-wedge reader types a code and Enter.
// Bad lines are counted and skipped; when the queue is full Feed waits for
// room rather than dropping, since a person typing expects every line to
// count. It returns nil at end of input, ctx.Err() when ctx is done, and
// barcode.ErrClosed when the reader is closed. Feed returns only between
// lines: a blocked read of in is not interrupted by ctx, so callers close
// in to stop it early.
func (r *Reader) Feed(ctx context.Context, in io.Reader) error {
	br := bufio.NewReaderSize(in, MaxLen+2)
	for {
		line, err := readLine(br)
		if line != nil {
			if e := r.feedOne(ctx, string(line)); e != nil {
				return e
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil && !errors.Is(err, errLineTooLong) {
			return fmt.Errorf("barcode/sim: feed: %w", err)
		}
		if errors.Is(err, errLineTooLong) {
			r.overlong.Add(1)
		}
	}
}

var errLineTooLong = errors.New("line too long")

// readLine returns one line without its line end, reading at most MaxLen
// bytes of it; the rest of an overlong line is discarded and reported as
// errLineTooLong with a nil line, so no part of it is taken for a code.
func readLine(br *bufio.Reader) ([]byte, error) {
	var buf []byte
	long := false
	for {
		frag, err := br.ReadSlice('\n')
		if !long {
			buf = append(buf, frag...)
			if len(buf) > MaxLen+2 {
				long = true
				buf = nil
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if long {
			if err == nil {
				return nil, errLineTooLong
			}
			return nil, err
		}
		if n := len(buf); n > 0 && buf[n-1] == '\n' {
			buf = buf[:n-1]
		}
		if n := len(buf); n > 0 && buf[n-1] == '\r' {
			buf = buf[:n-1]
		}
		if err != nil && len(buf) == 0 {
			return nil, err
		}
		return buf, err
	}
}

func (r *Reader) feedOne(ctx context.Context, line string) error {
	if line == "" {
		return nil
	}
	// While the queue is full, wait until a Read makes room.
	for {
		err := r.Inject(line)
		switch {
		case err == nil, errors.Is(err, ErrBadCode), errors.Is(err, ErrNotReading):
			return nil
		case errors.Is(err, ErrFull):
			r.dropped.Add(^uint64(0)) // Inject counted a drop; Feed retries instead.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-r.done:
				return barcode.ErrClosed
			case <-r.room:
			}
		default:
			return err
		}
	}
}

// Stats reports counts of delivered and refused codes.
func (r *Reader) Stats() barcode.Stats {
	return barcode.Stats{
		Good:     r.good.Load(),
		Invalid:  r.invalid.Load(),
		Overlong: r.overlong.Load(),
		Dropped:  r.dropped.Load(),
	}
}

// SetHealth sets what Health reports, as the simulation's controls do: ok
// again, or absent, offline or fault (with reason, default
// barcode.ReasonSimulated). While it is not ok, Inject refuses codes with
// ErrNotReading (and counts them dropped), as a dead reader reads nothing.
func (r *Reader) SetHealth(st barcode.State, reason string) error {
	switch st {
	case barcode.StateOK, barcode.StateAbsent, barcode.StateOffline, barcode.StateFault:
	default:
		return fmt.Errorf("%w: %q", ErrState, st)
	}
	if reason == "" {
		reason = barcode.ReasonSimulated
	}
	r.health.Store(&barcode.Health{State: st, Reason: reason, Asked: true})
	return nil
}

// Health implements barcode.Checker: what SetHealth set (ok at first), or
// offline once the reader is closed. It plays a reader that can be asked
// (an SSI imager): Asked is true.
func (r *Reader) Health(ctx context.Context) (barcode.Health, error) {
	if err := ctx.Err(); err != nil {
		return barcode.Health{}, err
	}
	select {
	case <-r.done:
		return barcode.Health{State: barcode.StateOffline, Reason: barcode.ReasonClosed}, nil
	default:
	}
	if h := r.health.Load(); h != nil {
		return *h, nil
	}
	return barcode.Health{State: barcode.StateOK, Reason: barcode.ReasonSimulated, Asked: true}, nil
}

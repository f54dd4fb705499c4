package wiegand

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/einwurf/einwurf/board"
	"github.com/einwurf/einwurf/drivers/barcode"
)

// idlePoll bounds how long Read waits for an edge between checks of ctx
// when no frame is in progress.
const idlePoll = 100 * time.Millisecond

// Re-requesting the lines after they failed: the first try after
// rerequestMin, the pause doubling up to rerequestMax.
const (
	rerequestMin = 100 * time.Millisecond
	rerequestMax = time.Second
)

// Reader is a Wiegand card reader. It implements barcode.Reader,
// barcode.Counter and barcode.Checker. Read must not be called from two
// goroutines at once. A reader made by Open outlives a failure of its
// lines: Read requests them again (from every 100 ms up to every second)
// and waits meanwhile, offline (Health); one made by NewReader returns
// the line's error.
type Reader struct {
	// src is the edge set in use; srcMu guards it, since Read replaces a
	// failed one. request requests the lines again (nil: NewReader's
	// source cannot be).
	srcMu   sync.Mutex
	src     board.EdgeSource
	request func() (board.EdgeSource, error)
	closing chan struct{} // closed by Close: ends a wait to re-request
	once    sync.Once
	log     *slog.Logger

	// closed and lineErr are what Health knows: a Wiegand reader only
	// sends, so it cannot be asked whether it is there.
	closed  atomic.Bool
	lineErr atomic.Bool

	mu  sync.Mutex // guards dec for Stats
	dec *Decoder
}

// Open requests the board's D0 and D1 lines as one edge set and returns a
// reader on them. log may be nil; it never receives card numbers.
func Open(b board.Board, cfg Config, log *slog.Logger) (*Reader, error) {
	dec, err := NewDecoder(cfg)
	if err != nil {
		return nil, err
	}
	request := func() (board.EdgeSource, error) { return b.Edges(board.WiegandD0, board.WiegandD1) }
	src, err := request()
	if err != nil {
		return nil, fmt.Errorf("wiegand: %w", err)
	}
	r := newReader(src, dec, log)
	r.request = request
	return r, nil
}

// NewReader returns a reader on an edge source whose index 0 is D0 and
// index 1 is D1.
func NewReader(src board.EdgeSource, cfg Config, log *slog.Logger) (*Reader, error) {
	dec, err := NewDecoder(cfg)
	if err != nil {
		return nil, err
	}
	return newReader(src, dec, log), nil
}

func newReader(src board.EdgeSource, dec *Decoder, log *slog.Logger) *Reader {
	if log == nil {
		log = slog.Default()
	}
	return &Reader{src: src, dec: dec, closing: make(chan struct{}), log: log.With("reader", "wiegand")}
}

// source is the edge set in use (nil after a failure until the lines are
// requested again).
func (r *Reader) source() board.EdgeSource {
	r.srcMu.Lock()
	defer r.srcMu.Unlock()
	return r.src
}

// rerequest closes the failed edge set and requests the lines again, the
// pause from rerequestMin doubling up to rerequestMax, until that works
// (nil), ctx ends (its error) or the reader is closed (barcode.ErrClosed).
// Meanwhile Health says offline; a frame broken off is dropped.
func (r *Reader) rerequest(ctx context.Context, failed board.EdgeSource) error {
	r.srcMu.Lock()
	if r.src == failed {
		r.src = nil
	}
	r.srcMu.Unlock()
	if failed != nil {
		_ = failed.Close()
	}
	r.mu.Lock()
	_, _ = r.dec.Flush() // counted in Stats, not returned
	r.mu.Unlock()
	pause := rerequestMin
	for {
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-r.closing:
			t.Stop()
			return barcode.ErrClosed
		case <-t.C:
		}
		pause = min(2*pause, rerequestMax)
		src, err := r.request()
		if err != nil {
			continue
		}
		r.srcMu.Lock()
		if r.closed.Load() {
			r.srcMu.Unlock()
			_ = src.Close()
			return barcode.ErrClosed
		}
		r.src = src
		r.srcMu.Unlock()
		r.lineErr.Store(false)
		r.log.Info("lines requested again")
		return nil
	}
}

// Read returns the next good frame's number. Bad frames and noise are
// counted (see Stats), logged without content and skipped. It returns
// ctx.Err() when ctx is done and barcode.ErrClosed after Close. When the
// lines fail, a reader made by Open requests them again and goes on
// reading; one made by NewReader returns the error.
func (r *Reader) Read(ctx context.Context) (barcode.Scan, error) {
	for {
		if err := ctx.Err(); err != nil {
			return barcode.Scan{}, err
		}
		src := r.source()
		if src == nil { // a re-request broken off by ctx
			if err := r.rerequest(ctx, nil); err != nil {
				return barcode.Scan{}, err
			}
			continue
		}
		r.mu.Lock()
		pending := r.dec.Pending()
		r.mu.Unlock()
		wait := idlePoll
		if pending {
			wait = r.dec.cfg.Timing.FrameGap
		}
		e, ok, err := src.WaitForEdge(wait)
		if err != nil {
			if errors.Is(err, board.ErrClosed) || r.closed.Load() {
				return barcode.Scan{}, barcode.ErrClosed
			}
			r.lineErr.Store(true)
			if r.request == nil {
				return barcode.Scan{}, fmt.Errorf("wiegand: %w", err)
			}
			r.log.Warn("lines failed; requesting them again", "err", err)
			if err := r.rerequest(ctx, src); err != nil {
				return barcode.Scan{}, err
			}
			continue
		}
		r.lineErr.Store(false)
		r.mu.Lock()
		var res Result
		var done bool
		if ok {
			res, done = r.dec.Push(e)
		} else if pending {
			res, done = r.dec.Flush()
		}
		r.mu.Unlock()
		if !done {
			continue
		}
		if res.Err != nil {
			r.log.Warn("frame dropped", "err", res.Err)
			continue
		}
		return res.Scan, nil
	}
}

// Stats implements barcode.Counter.
func (r *Reader) Stats() barcode.Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dec.Stats()
}

// Close releases the lines and makes a waiting Read return
// barcode.ErrClosed.
func (r *Reader) Close() error {
	r.srcMu.Lock()
	r.closed.Store(true)
	src := r.src
	r.srcMu.Unlock()
	r.once.Do(func() { close(r.closing) })
	if src == nil {
		return nil
	}
	return src.Close()
}

// Health implements barcode.Checker. A Wiegand reader cannot be asked
// (it has no line back from the kiosk): while its lines are held and the
// last wait for an edge did not fail, it is ok with
// barcode.ReasonLinesHeld and Asked false: a card read is the only proof
// it works. A failed wait is offline (ReasonLineError) until the lines
// are requested again or a wait succeeds, a closed reader offline
// (ReasonClosed).
func (r *Reader) Health(ctx context.Context) (barcode.Health, error) {
	if err := ctx.Err(); err != nil {
		return barcode.Health{}, err
	}
	switch {
	case r.closed.Load():
		return barcode.Health{State: barcode.StateOffline, Reason: barcode.ReasonClosed}, nil
	case r.lineErr.Load():
		return barcode.Health{State: barcode.StateOffline, Reason: barcode.ReasonLineError}, nil
	}
	return barcode.Health{State: barcode.StateOK, Reason: barcode.ReasonLinesHeld}, nil
}

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

// Reader is a Wiegand card reader. It implements barcode.Reader,
// barcode.Counter and barcode.Checker. Read must not be called from two
// goroutines at once.
type Reader struct {
	src board.EdgeSource
	log *slog.Logger

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
	src, err := b.Edges(board.WiegandD0, board.WiegandD1)
	if err != nil {
		return nil, fmt.Errorf("wiegand: %w", err)
	}
	return newReader(src, dec, log), nil
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
	return &Reader{src: src, dec: dec, log: log.With("reader", "wiegand")}
}

// Read returns the next good frame's number. Bad frames and noise are
// counted (see Stats), logged without content and skipped. It returns
// ctx.Err() when ctx is done and barcode.ErrClosed after Close.
func (r *Reader) Read(ctx context.Context) (barcode.Scan, error) {
	for {
		if err := ctx.Err(); err != nil {
			return barcode.Scan{}, err
		}
		r.mu.Lock()
		pending := r.dec.Pending()
		r.mu.Unlock()
		wait := idlePoll
		if pending {
			wait = r.dec.cfg.Timing.FrameGap
		}
		e, ok, err := r.src.WaitForEdge(wait)
		if err != nil {
			if errors.Is(err, board.ErrClosed) {
				return barcode.Scan{}, barcode.ErrClosed
			}
			r.lineErr.Store(true)
			return barcode.Scan{}, fmt.Errorf("wiegand: %w", err)
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
	r.closed.Store(true)
	return r.src.Close()
}

// Health implements barcode.Checker. A Wiegand reader cannot be asked
// (it has no line back from the kiosk): while its lines are held and the
// last wait for an edge did not fail, it is ok with
// barcode.ReasonLinesHeld and Asked false: a card read is the only proof
// it works. A failed wait is offline (ReasonLineError), a closed reader
// offline (ReasonClosed).
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

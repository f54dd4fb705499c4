package imager

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/einwurf/einwurf/drivers/barcode"
	"github.com/einwurf/einwurf/drivers/barcode/imager/ssi"
)

// maxFaultBurst bounds Config.FaultBurst (the ring of bad frames' times).
const maxFaultBurst = 64

// health is what Health knows besides the loop's end: the engine's
// answers and the times of the last bad frames. The loop writes it, Health
// reads it; neither waits for the other.
type health struct {
	path   string        // the serial port's device node ("": opened by New)
	window time.Duration // Config.FaultWindow
	now    func() time.Time

	// answers counts the engine's good frames; answered is signalled
	// after each, so a waiting probe wakes.
	answers  atomic.Uint64
	answered chan struct{}
	// probing lets one probe ask at a time; others wait for it or
	// their context.
	probing chan struct{}
	// down is set while the port failed and is being opened again;
	// wentDown is signalled when it is set, so a waiting probe wakes.
	down     atomic.Bool
	wentDown chan struct{}

	mu  sync.Mutex
	bad []time.Time // ring of the last FaultBurst bad frames' times
	nb  int         // bad frames seen (ring index = nb % len(bad))
}

func (h *health) init(cfg Config) {
	h.window, h.now = cfg.FaultWindow, time.Now
	h.answered = make(chan struct{}, 1)
	h.probing = make(chan struct{}, 1)
	h.wentDown = make(chan struct{}, 1)
	h.bad = make([]time.Time, cfg.FaultBurst)
}

// portDown marks the port failed (reopen) and wakes a waiting probe.
func (h *health) portDown(down bool) {
	h.down.Store(down)
	if down {
		select {
		case h.wentDown <- struct{}{}:
		default:
		}
	}
}

// heard records a good frame of the engine.
func (h *health) heard() {
	h.answers.Add(1)
	select {
	case h.answered <- struct{}{}:
	default:
	}
}

// badFrame records a bad frame's time.
func (h *health) badFrame() {
	h.mu.Lock()
	h.bad[h.nb%len(h.bad)] = h.now()
	h.nb++
	h.mu.Unlock()
}

// faulty reports whether the last FaultBurst bad frames all came within
// FaultWindow of now.
func (h *health) faulty() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.nb < len(h.bad) {
		return false
	}
	oldest := h.bad[h.nb%len(h.bad)]
	return h.now().Sub(oldest) <= h.window
}

// Health implements barcode.Checker. In SSI mode it asks the engine for
// its revision and waits (at most Config.ProbeTimeout) for any good frame
// of it: the reply, an ACK or NAK, a decode. In plain mode the engine
// cannot be asked: the port being open without error is all there is to
// know. Either way a closed reader, a failed port (or one whose device
// node vanished: absent) and a burst of bad frames (fault) are reported
// without asking. Health never holds up the reading goroutine: it only
// writes one short request (under the lock the loop's ACKs take) and
// waits on what the loop records.
func (r *Reader) Health(ctx context.Context) (barcode.Health, error) {
	if err := ctx.Err(); err != nil {
		return barcode.Health{}, err
	}
	if h, dead := r.ended(); dead {
		return h, nil
	}
	if r.health.faulty() {
		return barcode.Health{State: barcode.StateFault, Reason: barcode.ReasonBadFrames}, nil
	}
	if r.cfg.Mode == ModePlain {
		return barcode.Health{State: barcode.StateOK, Reason: barcode.ReasonPortOpen}, nil
	}
	return r.probe(ctx)
}

// ended is the health of a reader whose loop has ended, or whose port
// failed and is being opened again (dead true).
func (r *Reader) ended() (h barcode.Health, dead bool) {
	if r.closed.Load() {
		return barcode.Health{State: barcode.StateOffline, Reason: barcode.ReasonClosed}, true
	}
	if !r.health.down.Load() {
		select {
		case <-r.done:
		default:
			return barcode.Health{}, false
		}
	}
	if r.health.path != "" {
		if _, err := os.Stat(r.health.path); errors.Is(err, fs.ErrNotExist) {
			return barcode.Health{State: barcode.StateAbsent, Reason: barcode.ReasonGone}, true
		}
	}
	return barcode.Health{State: barcode.StateOffline, Reason: barcode.ReasonPortError}, true
}

// revisionRequest is the host's REQUEST_REVISION frame.
var revisionRequest = func() []byte {
	b, _ := ssi.Encode(ssi.Packet{Opcode: ssi.OpRequestRevision, Source: ssi.SourceHost})
	return b
}()

// probe asks the SSI engine once.
func (r *Reader) probe(ctx context.Context) (barcode.Health, error) {
	h := &r.health
	select {
	case h.probing <- struct{}{}:
	case <-ctx.Done():
		return barcode.Health{}, ctx.Err()
	}
	defer func() { <-h.probing }()
	select {
	case <-h.answered: // an earlier frame's signal
	default:
	}
	select {
	case <-h.wentDown: // an earlier outage's
	default:
	}
	before := h.answers.Load()
	if err := r.send(revisionRequest); err != nil {
		if eh, dead := r.ended(); dead {
			return eh, nil
		}
		return barcode.Health{State: barcode.StateOffline, Reason: barcode.ReasonPortError, Asked: true}, nil
	}
	t := time.NewTimer(r.cfg.ProbeTimeout)
	defer t.Stop()
	for {
		select {
		case <-h.answered:
			if h.answers.Load() > before {
				return barcode.Health{State: barcode.StateOK, Reason: barcode.ReasonAnswered, Asked: true}, nil
			}
		case <-r.done:
			eh, _ := r.ended()
			return eh, nil
		case <-h.wentDown:
			if eh, dead := r.ended(); dead {
				return eh, nil
			}
		case <-t.C:
			return barcode.Health{State: barcode.StateOffline, Reason: barcode.ReasonNoAnswer, Asked: true}, nil
		case <-ctx.Done():
			return barcode.Health{}, ctx.Err()
		}
	}
}

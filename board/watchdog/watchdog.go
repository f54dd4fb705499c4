// Package watchdog drives the hardware watchdog (/dev/watchdog): it sets the
// time-out, pets the watchdog only while the appliance's own health checks
// pass, and disarms it with the magic close on a clean stop. Opened on a
// regular file instead of a device (simulation, tests) the same code runs,
// with keepalives written as bytes the caller can read back.
package watchdog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Bytes written to the watchdog. The kernel takes any write as a
// keepalive and a 'V' right before close as the magic close that disarms
// the watchdog (when the driver supports it and nowayout is off).
const (
	keepaliveByte  = 'k'
	magicCloseByte = 'V'
)

// Errors the watchdog reports.
var (
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("watchdog: closed")
	// ErrUnhealthy means a health check failed, so the watchdog was not
	// petted this round.
	ErrUnhealthy = errors.New("watchdog: health check failed")
)

// Watchdog is an open watchdog. It is safe for concurrent use.
type Watchdog struct {
	mu      sync.Mutex
	f       *os.File
	device  bool // a character device: ioctls work
	timeout time.Duration
	pets    atomic.Uint64
}

// Open opens the watchdog at path and sets its time-out (rounded by the
// kernel to whole seconds; Timeout reports what it took). Opening a device
// arms it: from now on the board resets unless Pet is called in time or
// Close disarms it. A regular file is opened for appending and only records
// keepalives and the magic close.
func Open(path string, timeout time.Duration) (*Watchdog, error) {
	if timeout < time.Second {
		return nil, fmt.Errorf("watchdog: time-out %v shorter than 1s", timeout)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("watchdog: %w", err)
	}
	w := &Watchdog{timeout: timeout}
	switch {
	case fi.Mode()&os.ModeCharDevice != 0:
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("watchdog: open: %w", err)
		}
		w.f, w.device = f, true
		got, err := setTimeout(f, timeout)
		if err != nil {
			// The device is armed already; disarm it rather than leave a
			// ticking watchdog nobody pets.
			w.Close()
			return nil, fmt.Errorf("watchdog: set time-out: %w", err)
		}
		w.timeout = got
	case fi.Mode().IsRegular():
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return nil, fmt.Errorf("watchdog: open: %w", err)
		}
		w.f = f
	default:
		return nil, fmt.Errorf("watchdog: %s is neither a device nor a regular file", path)
	}
	return w, nil
}

// Timeout returns the time-out in force.
func (w *Watchdog) Timeout() time.Duration { return w.timeout }

// Pets returns how many keepalives were sent.
func (w *Watchdog) Pets() uint64 { return w.pets.Load() }

// Pet sends one keepalive.
func (w *Watchdog) Pet() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return ErrClosed
	}
	var err error
	if w.device {
		err = keepalive(w.f)
	} else {
		_, err = w.f.Write([]byte{keepaliveByte})
	}
	if err != nil {
		return fmt.Errorf("watchdog: keepalive: %w", err)
	}
	w.pets.Add(1)
	return nil
}

// Close disarms the watchdog with the magic close ('V', then close) and
// releases it. Call it only on a clean stop: after a crash the process
// exits without it and the board resets when the time-out runs out.
func (w *Watchdog) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	_, werr := w.f.Write([]byte{magicCloseByte})
	cerr := w.f.Close()
	w.f = nil
	if werr != nil {
		return fmt.Errorf("watchdog: magic close: %w", werr)
	}
	if cerr != nil {
		return fmt.Errorf("watchdog: close: %w", cerr)
	}
	return nil
}

// Check is one health check of the appliance: the scanner answers or is
// known absent, the uplink loop is alive, the UI serves.
type Check struct {
	// Name names the check in logs.
	Name string
	// Run returns nil when healthy. It must honour ctx.
	Run func(ctx context.Context) error
}

// Healthy runs all checks, each bounded by timeout, and returns the first
// failure wrapped in ErrUnhealthy.
func Healthy(ctx context.Context, timeout time.Duration, checks []Check) error {
	for _, c := range checks {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		err := c.Run(cctx)
		cancel()
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrUnhealthy, c.Name, err)
		}
	}
	return nil
}

// Run pets the watchdog every interval while all checks pass, until ctx is
// done; then it returns ctx.Err() and leaves Close (the magic close) to the
// caller. A round with a failing check is logged and skipped: if checks
// keep failing the time-out runs out and the board resets, which is the
// point. Each check gets at most interval to answer.
func (w *Watchdog) Run(ctx context.Context, interval time.Duration, log *slog.Logger, checks ...Check) error {
	if interval <= 0 || interval >= w.timeout {
		return fmt.Errorf("watchdog: pet interval %v must be positive and below the time-out %v", interval, w.timeout)
	}
	if log == nil {
		log = slog.Default()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := Healthy(ctx, interval, checks); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			log.Warn("watchdog not petted", "err", err)
		} else if err := w.Pet(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Heartbeat is a health check for a loop: the loop calls Beat each round;
// the check fails when the last beat is older than MaxAge.
type Heartbeat struct {
	// MaxAge is how old the last beat may be.
	MaxAge time.Duration
	// now is the clock; nil means time.Now.
	now  func() time.Time
	last atomic.Int64
}

// NewHeartbeat returns a heartbeat that counts as beaten now.
func NewHeartbeat(maxAge time.Duration) *Heartbeat {
	h := &Heartbeat{MaxAge: maxAge}
	h.Beat()
	return h
}

func (h *Heartbeat) clock() time.Time {
	if h.now != nil {
		return h.now()
	}
	return time.Now()
}

// Beat records that the loop is alive.
func (h *Heartbeat) Beat() { h.last.Store(h.clock().UnixNano()) }

// Check returns a Check named name for this heartbeat.
func (h *Heartbeat) Check(name string) Check {
	return Check{Name: name, Run: func(context.Context) error {
		age := h.clock().Sub(time.Unix(0, h.last.Load()))
		if age > h.MaxAge {
			return fmt.Errorf("last beat %v ago, allowed %v", age.Round(time.Millisecond), h.MaxAge)
		}
		return nil
	}}
}

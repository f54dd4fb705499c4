package appliance

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/einwurf/einwurf/board/watchdog"
	"github.com/einwurf/einwurf/drivers/scanner"
)

// DeviceFault is the error ready reports while a device the kiosk cannot
// work without (the scanner) is absent or broken: the kiosk is out of
// service with an alarm, and the watchdog keeps being petted, because a
// missing peripheral is no hung appliance and a reset would not bring it
// back.
type DeviceFault struct {
	// Device names the device ("scanner").
	Device string
	// Err is what the device check answered.
	Err error
}

func (e DeviceFault) Error() string { return e.Device + ": " + e.Err.Error() }

// Unwrap returns the device's error.
func (e DeviceFault) Unwrap() error { return e.Err }

// ReasonKey is the customer screen's message key: the kiosk is out of
// service for a technical fault (kiosk/ui shows it in every language).
func (e DeviceFault) ReasonKey() string { return "out-of-service.technical-fault" }

// Default watchdog timing: the board resets 15 s after the last keepalive;
// the appliance pets every 5 s while its own loops answer.
const (
	defaultDogTimeout  = 15 * time.Second
	defaultDogInterval = 5 * time.Second
	defaultDeviceEvery = 2 * time.Second
)

// devices watches the peripherals: one loop asks the scanner for its
// status each round (each question bounded), keeps what it answered and
// raises an alarm when it goes away and a notice when it is back. The
// watchdog checks the loop's heartbeat, not the scanner's answer.
type devices struct {
	every time.Duration
	beat  *watchdog.Heartbeat
	// fault is the scanner's current fault, nil while it answers.
	fault atomic.Pointer[DeviceFault]
	// status is the scanner's last answer and when it came.
	status atomic.Pointer[scannerSeen]
	// misses counts the scanner's failed answers in a row (the loop's
	// own): one miss (a profile switch, a device reset) is not yet absent.
	misses int
}

// absentAfter is how many failed answers in a row put the kiosk out of
// service.
const absentAfter = 3

// scannerSeen is one answer of the scanner.
type scannerSeen struct {
	At     time.Time
	Status scanner.Status
	Err    error
}

func newDevices(every time.Duration) *devices {
	if every <= 0 {
		every = defaultDeviceEvery
	}
	return &devices{every: every, beat: watchdog.NewHeartbeat(3*every + 5*time.Second)}
}

// ready is nil while the devices the kiosk needs answer.
func (d *devices) ready() error {
	if f := d.fault.Load(); f != nil {
		return *f
	}
	return nil
}

// defaultTickMaxAge bounds one round of the tick loop: a printer status
// (2 s) and a telemetry publish (the uplink's answer time-out, 15 s) are
// its longest waits.
const defaultTickMaxAge = 30 * time.Second

// newTickBeat is the tick loop's heartbeat: a loop stuck longer than
// maxAge (0: defaultTickMaxAge) no longer ends idle visits or wipes their
// pages, so the watchdog resets the board.
func newTickBeat(maxAge time.Duration) *watchdog.Heartbeat {
	if maxAge <= 0 {
		maxAge = defaultTickMaxAge
	}
	return watchdog.NewHeartbeat(maxAge)
}

// ScannerFault returns the scanner's current fault (nil: it answers).
func (a *Appliance) ScannerFault() error {
	if a.devs == nil {
		return nil
	}
	return a.devs.ready()
}

// watchDevices is the device loop. It beats its heartbeat every round,
// whatever the devices answer.
func (a *Appliance) watchDevices(ctx context.Context) {
	d := a.devs
	t := time.NewTicker(d.every)
	defer t.Stop()
	for {
		d.beat.Beat()
		a.checkScanner(ctx)
		d.beat.Beat()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkScanner asks the scanner once and records the answer. The question
// is bounded by the round's interval, so a scanner that never answers
// (frozen firmware, a half-dead USB link) makes a fault, not a hung loop.
func (a *Appliance) checkScanner(ctx context.Context) {
	d := a.devs
	cctx, cancel := context.WithTimeout(ctx, d.every)
	st, err := a.scan.Status(cctx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	d.status.Store(&scannerSeen{At: time.Now().UTC(), Status: st, Err: err})
	// A scanner that answers (even with a jam or an open cover) is there:
	// the visit or staff deal with that. No answer is out of service.
	absent := err
	if absent == nil && errors.Is(st.Err, scanner.ErrOffline) {
		absent = st.Err // it answers, but says it is down
	}
	if absent != nil {
		d.misses++
	} else {
		d.misses = 0
	}
	old := d.fault.Load()
	switch {
	case absent != nil && old == nil && d.misses >= absentAfter:
		f := DeviceFault{Device: "scanner", Err: absent}
		d.fault.Store(&f)
		// A visit under way is left alone: its own scan fails with the
		// device's error, and no new visit starts (ready).
		a.Alarm("scanner.absent", scannerCause(absent))
	case absent == nil && old != nil:
		d.fault.Store(nil)
		a.Notice("scanner.back", "")
	}
}

// scannerCause is the alarm's detail: a cause key, never free text from
// the device.
func scannerCause(err error) string {
	switch {
	case errors.Is(err, scanner.ErrUnplugged):
		return "unplugged"
	case errors.Is(err, scanner.ErrOffline):
		return "offline"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, scanner.ErrStalled):
		return "no-answer"
	default:
		return "fault"
	}
}

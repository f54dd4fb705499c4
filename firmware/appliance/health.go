package appliance

import (
	"context"
	"errors"
	"time"

	"github.com/einwurf/einwurf/board/watchdog"
	"github.com/einwurf/einwurf/drivers/printer"
	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/drivers/usb"
	"github.com/einwurf/einwurf/kiosk/service"
)

// Reasons of a failed health check after an update's switch, reported as
// "health:<reason>".
const (
	HealthUplink    = "uplink"             // no broker connection, or the uplink loop ended
	HealthRoundTrip = "receipt-round-trip" // the central's signed acknowledgement of the trial never came
	HealthUI        = "ui"                 // the local UI does not answer /healthz: it does not serve, or the customer's visit does not answer
	HealthScanner   = "scanner"            // the device loop hangs, or a scanner that is there does not answer
	HealthPrinter   = "printer"            // the receipt printer cannot be asked
	HealthDisk      = "disk"               // the spool's disk is in alarm
	HealthSelfTest  = "self-test"          // the self-test after service mode failed
)

// healthCheck is one check of the health check: name is its reason.
// A check that waits for something to happen has wait set: it may take
// until the health deadline; the others ask once, within stepTimeout.
type healthCheck struct {
	name string
	run  func(context.Context) error
	wait bool
}

// healthParts are what the health check asks (the appliance's own parts;
// a test gives doubles).
type healthParts struct {
	connected  func() bool
	publish    func() error
	awaitAck   func(context.Context) error // nil: no round trip to wait for
	uplinkDone <-chan struct{}
	uiURL      string
	devices    *devices
	printer    printer.Printer // nil: screen receipts only
	diskAlarm  func() bool
	selfTest   func() error
}

// checkEvery is how often a check waiting for something to happen (the
// broker connection, the scanner's first answer) asks again.
const checkEvery = 200 * time.Millisecond

// stepTimeout bounds each check that asks something once.
const stepTimeout = 10 * time.Second

// checks are the health check's steps, in order: the uplink connects and
// publishes, the central answers (a round trip), the UI serves, the
// scanner answers or is known absent (unplugged), the printer answers, the
// disk is not in alarm, no failed self-test.
func (h healthParts) checks() []healthCheck {
	cs := []healthCheck{{name: HealthUplink, wait: true, run: func(ctx context.Context) error {
		for !h.connected() {
			select {
			case <-h.uplinkDone:
				return errors.New("uplink loop ended")
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(checkEvery):
			}
		}
		return h.publish()
	}}}
	if h.awaitAck != nil {
		cs = append(cs, healthCheck{name: HealthRoundTrip, wait: true, run: h.awaitAck})
	}
	cs = append(cs, healthCheck{name: HealthUI, run: watchdog.HTTPCheck("ui", h.uiURL+"healthz", nil).Run},
		healthCheck{name: HealthScanner, wait: true, run: h.scanner})
	if h.printer != nil {
		cs = append(cs, healthCheck{name: HealthPrinter, run: func(ctx context.Context) error {
			// Paper out or an open cover are a person's job, not the update's;
			// so is a printer not attached at all (known absent, as an
			// unplugged scanner: a rollback brings no printer back).
			_, err := h.printer.Status(ctx)
			if errors.Is(err, usb.ErrNotFound) {
				return nil
			}
			return err
		}})
	}
	cs = append(cs, healthCheck{name: HealthDisk, run: func(context.Context) error {
		if h.diskAlarm() {
			return errors.New("disk alarm")
		}
		return nil
	}}, healthCheck{name: HealthSelfTest, run: func(context.Context) error {
		if err := h.selfTest(); err != nil && !errors.Is(err, service.ErrActive) {
			return err
		}
		return nil
	}})
	return cs
}

// scanner waits for the device loop's first answer: the loop must beat,
// and the scanner must answer or be known absent (unplugged: no update
// brings it back; a scanner there that no longer answers may be the new
// version's fault).
func (h healthParts) scanner(ctx context.Context) error {
	d := h.devices
	for {
		if err := d.beat.Check("devices").Run(ctx); err != nil {
			return err
		}
		if f := d.fault.Load(); f != nil {
			if scannerCause(f.Err) == "unplugged" {
				return nil
			}
			return f
		}
		if seen := d.status.Load(); seen != nil && seen.Err == nil && !errors.Is(seen.Status.Err, scanner.ErrOffline) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(checkEvery):
		}
	}
}

// runHealth runs the checks in order, each once (a step that asks once is
// bounded by stepTimeout), and returns the first failing one's name as the
// error.
func runHealth(ctx context.Context, checks []healthCheck) error {
	for _, c := range checks {
		cctx, cancel := context.WithTimeout(ctx, stepTimeout)
		if c.wait {
			cancel()
			cctx, cancel = context.WithCancel(ctx)
		}
		err := c.run(cctx)
		cancel()
		if err != nil {
			return errors.New(c.name)
		}
	}
	return nil
}

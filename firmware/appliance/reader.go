package appliance

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/einwurf/einwurf/drivers/barcode"
	"github.com/einwurf/einwurf/wire"
)

// readerAfter is how many answers in a row that are not ok confirm a
// dead barcode reader (one missed answer, a probe crossing a decode, is
// not yet one); a single ok answer confirms it is back.
const readerAfter = 2

// Events of the barcode reader: "reader.<state>" alarms (reader.absent,
// reader.offline, reader.fault; the detail is the reason key) while it is
// dead, and the notice "reader.ok" when it is back (the central clears the
// reader.* alarms with it).
const (
	eventReaderPrefix = "reader."
	eventReaderOK     = "reader.ok"
)

// readerWatch keeps the customers' barcode reader's health: its own loop
// asks the reader (barcode.Checker) each round, with a bounded question,
// so nothing the UI or a scan waits for waits on it.
type readerWatch struct {
	every time.Duration
	// bound is how long one question may take: the round's interval,
	// but at least a second (a fast round in tests must not turn a slow
	// answer into none) and at most five.
	bound time.Duration
	// confirmed is the health telemetry, service mode and the customer
	// screen see (nil: not asked yet, or the reader cannot tell).
	confirmed atomic.Pointer[barcode.Health]
	// bad counts answers not ok in a row (the loop's own).
	bad int
	// alarm and notice send the reader's events (Appliance.Alarm and
	// Notice; tests record them).
	alarm, notice func(code, detail string)
}

func newReaderWatch(every time.Duration, alarm, notice func(code, detail string)) *readerWatch {
	if every <= 0 {
		every = defaultDeviceEvery
	}
	return &readerWatch{every: every, bound: min(max(every, time.Second), 5*time.Second), alarm: alarm, notice: notice}
}

// watchReader asks the reader every round until ctx ends. A reader that
// cannot tell its health (no barcode.Checker) is never asked: its state
// stays unknown ("").
func (a *Appliance) watchReader(ctx context.Context) {
	c, ok := a.reader.(barcode.Checker)
	if !ok || a.rdr == nil {
		return
	}
	t := time.NewTicker(a.rdr.every)
	defer t.Stop()
	for {
		if a.rdr.check(ctx, c) {
			a.publishTelemetry(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// check asks once (bounded by w.bound) and confirms a change:
// dead after readerAfter answers not ok in a row, with an alarm per state
// it is found in; back at the first ok answer, with a notice. It reports
// whether the confirmed state changed.
func (w *readerWatch) check(ctx context.Context, c barcode.Checker) (changed bool) {
	cctx, cancel := context.WithTimeout(ctx, w.bound)
	h, err := c.Health(cctx)
	cancel()
	if ctx.Err() != nil {
		return false
	}
	if err != nil {
		// The reader's time-outs are its own and shorter: an answer
		// that did not come in the round is no answer.
		h = barcode.Health{State: barcode.StateOffline, Reason: barcode.ReasonNoAnswer, Asked: true}
	}
	if h.OK() {
		w.bad = 0
	} else {
		w.bad++
	}
	old := w.confirmed.Load()
	switch {
	case h.OK():
		w.confirmed.Store(&h)
		if old != nil && !old.OK() {
			w.notice(eventReaderOK, "")
		}
		return old == nil || !old.OK()
	case w.bad >= readerAfter:
		changed = old == nil || old.State != h.State
		// Stored first: whoever sees the alarm sees the state too.
		w.confirmed.Store(&h)
		if changed {
			w.alarm(eventReaderPrefix+string(h.State), h.Reason)
		}
	}
	return changed
}

// publishTelemetry sends telemetry now, so the dashboard's reader column
// changes with the alarm rather than up to a telemetry round later. It
// runs in the reader's loop (bounded by the uplink's answer time-out);
// offline, the next round's telemetry says it.
func (a *Appliance) publishTelemetry(ctx context.Context) {
	if a.Uplink == nil || a.Kiosk == nil || ctx.Err() != nil {
		return
	}
	if err := a.Uplink.Publish(wire.TelemetryTopic(a.KioskID), a.telemetry(), false); err != nil {
		a.log.Debug("einwurfd: telemetry not sent", "err", err)
	}
}

// readerHealth is the reader's confirmed health (ok false: not known).
func (a *Appliance) readerHealth() (barcode.Health, bool) {
	if a.rdr == nil {
		return barcode.Health{}, false
	}
	h := a.rdr.confirmed.Load()
	if h == nil {
		return barcode.Health{}, false
	}
	return *h, true
}

// readerState is the barcode reader's state for telemetry ("ok",
// "absent", "offline", "fault"; empty: not known).
func (a *Appliance) readerState() string {
	h, ok := a.readerHealth()
	if !ok {
		return ""
	}
	return string(h.State)
}

// ReaderDown reports whether the customers' barcode reader is known dead
// (confirmed absent, offline or fault): the customer screen then points
// to the keypad instead of the reader.
func (a *Appliance) ReaderDown() bool {
	h, ok := a.readerHealth()
	return ok && !h.OK()
}

// startReaderWatch starts the reader's loop; Close waits for it.
func (a *Appliance) startReaderWatch(ctx context.Context, every time.Duration) {
	a.rdr = newReaderWatch(every, a.Alarm, a.Notice)
	done := make(chan struct{})
	go func() { a.watchReader(ctx); close(done) }()
	a.closers = append(a.closers, func() { a.cancel(); <-done })
}

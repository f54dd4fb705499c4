//go:build linux

package main

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/printer"
	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/firmware/appliance"
)

// TestScannerUnpluggedNoReset is the boot-loop defect shown with usbtest
// unplug: the IPP-over-USB scanner is pulled off the (fake) bus under
// einwurfd's real driver path. The kiosk goes out of service (the customer
// screen's technical-fault text), the central gets the alarms, the
// watchdog goes on being petted, never long enough apart to reset the
// board; plugged in again, the kiosk is ready again.
func TestScannerUnpluggedNoReset(t *testing.T) {
	k := startTestKiosk(t, kioskOptions{})
	if !waitFor(10*time.Second, func() bool { return k.view().NotReady == "" }) {
		t.Fatalf("not ready at start: %+v", k.view())
	}
	p := k.watchPets()
	k.host.Unplug(k.scanner)
	absent := k.event("scanner.absent", `"detail":"unplugged"`)
	k.event("scanner.unplugged", "")
	v := k.view()
	if v.NotReadyReason != "out-of-service.technical-fault" {
		t.Fatalf("view while unplugged: %+v", v)
	}
	// Out of service for two watchdog time-outs, and petted throughout.
	time.Sleep(2 * testDogTimeout)
	k.host.Plug(k.scanner)
	k.event("scanner.back", "")
	if !waitFor(10*time.Second, func() bool { return k.view().NotReady == "" }) {
		t.Fatalf("not ready after the scanner is back: %+v", k.view())
	}
	n, longest, closed := p.result()
	t.Logf("unplugged: %d keepalives, longest gap %v (time-out %v); alarm %s", n, longest, testDogTimeout, absent)
	if longest >= testDogTimeout || n < int(2*testDogTimeout/testDogInterval)/2 || closed {
		t.Fatalf("watchdog while unplugged: %d keepalives, longest gap %v, magic close %v: the board would have reset", n, longest, closed)
	}
}

// gate hangs a driver's call: while shut, calls wait (ignoring their
// context) until it is opened.
type gate struct {
	mu   sync.Mutex
	shut chan struct{} // non-nil while shut; closed to open
}

func (g *gate) wait() {
	g.mu.Lock()
	c := g.shut
	g.mu.Unlock()
	if c != nil {
		<-c
	}
}

func (g *gate) close() {
	g.mu.Lock()
	g.shut = make(chan struct{})
	g.mu.Unlock()
}

func (g *gate) open() {
	g.mu.Lock()
	if g.shut != nil {
		close(g.shut)
		g.shut = nil
	}
	g.mu.Unlock()
}

// hungScanner is a scanner driver with a bug: while its gate is shut its
// Status ignores its context and never returns, so the device loop that
// asks it hangs.
type hungScanner struct {
	scanner.Scanner
	g *gate
}

func (h hungScanner) Status(ctx context.Context) (scanner.Status, error) {
	h.g.wait()
	return h.Scanner.Status(ctx)
}

// hungPrinter is a printer driver with the same bug: the tick loop (which
// asks the printer each second, then ends idle visits) hangs.
type hungPrinter struct {
	printer.Printer
	g *gate
}

func (h hungPrinter) Status(ctx context.Context) (printer.Status, error) {
	h.g.wait()
	return h.Printer.Status(ctx)
}

// TestHungLoopStopsWatchdog: the watchdog resets a hung appliance. When
// one of its loops hangs — the device loop (its scanner driver ignores the
// time-out) or the tick loop, which ends and wipes idle visits (its
// printer driver does) — or the customer's visit no longer answers (its
// lock is stuck: every screen update, tap and the page's event stream wait
// for it, and the UI's /healthz says so), the keepalives stop for longer
// than the watchdog's time-out, with no magic close: a real watchdog
// resets the board. Freed again, the keepalives resume. A missing scanner
// (the test above) is no hang.
func TestHungLoopStopsWatchdog(t *testing.T) {
	for _, c := range []struct {
		loop string
		tune func(*appliance.Parts, *gate)
		// hang, when set, hangs the part on the running kiosk instead of
		// the gate and returns what frees it.
		hang func(*testKiosk) (release func())
	}{
		{loop: "devices", tune: func(p *appliance.Parts, g *gate) { p.Scanner = hungScanner{Scanner: p.Scanner, g: g} }},
		{loop: "tick", tune: func(p *appliance.Parts, g *gate) {
			p.TickMaxAge = 3 * time.Second
			p.Printer = hungPrinter{Printer: p.Printer, g: g}
		}},
		// No part the visit calls under its lock can hang it (slow work
		// runs outside), so the session's test seam holds the lock, as a
		// deadlock would.
		{loop: "ui", hang: func(k *testKiosk) func() { return k.a.Kiosk.HoldLock() }},
	} {
		t.Run(c.loop, func(t *testing.T) {
			t.Parallel() // all mostly wait for the watchdog's time-outs
			g := &gate{}
			k := startTestKiosk(t, kioskOptions{tune: func(p *appliance.Parts) {
				if c.tune != nil {
					c.tune(p, g)
				}
			}})
			t.Cleanup(g.open)
			p := k.watchPets()
			if !waitFor(10*time.Second, func() bool { n, _, _ := p.snapshot(); return n > 0 && p.sinceLast() < testDogInterval }) {
				t.Fatal("no keepalives at start")
			}
			release := g.open
			if c.hang != nil {
				release = c.hang(k)
			} else {
				g.close()
			}
			t.Cleanup(release)
			hungAt := time.Now()
			// The loop's heartbeat may be old by its allowance before the
			// check fails; then no keepalive comes for a whole time-out.
			if !waitFor(30*time.Second, func() bool { return p.sinceLast() > testDogTimeout+testDogInterval }) {
				t.Fatalf("a hung %s: keepalives go on (last %v ago)", c.loop, p.sinceLast())
			}
			stoppedAfter := time.Since(hungAt) - p.sinceLast()
			if c.loop == "ui" {
				// Asked by itself (its own wait, not the watchdog's shorter
				// round), /healthz names what is stuck.
				if code, body := k.healthz(); code != http.StatusServiceUnavailable || body != "stuck: session" {
					t.Fatalf("/healthz while the visit hangs: %d %q", code, body)
				}
			}
			before, longest, _ := p.snapshot()
			release()
			// Freed, the appliance answers again: keepalives resume (a few,
			// not one by chance).
			if !waitFor(30*time.Second, func() bool { n, _, _ := p.snapshot(); return n >= before+3 }) {
				t.Fatalf("the %s freed again: keepalives do not resume (last %v ago)", c.loop, p.sinceLast())
			}
			n, _, closed := p.result()
			t.Logf("hung %s: keepalives stopped %v after the hang, gap %v > time-out %v; resumed when freed (%d keepalives in all)",
				c.loop, stoppedAfter.Round(time.Millisecond), longest.Round(time.Millisecond), testDogTimeout, n)
			if closed {
				t.Fatal("the watchdog was disarmed (magic close) while the appliance hung")
			}
		})
	}
}

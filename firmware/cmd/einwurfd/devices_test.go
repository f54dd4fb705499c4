//go:build linux

package main

import (
	"context"
	"sync"
	"testing"
	"time"

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
	// Out of service for three watchdog time-outs, and petted throughout.
	time.Sleep(3 * testDogTimeout)
	k.host.Plug(k.scanner)
	k.event("scanner.back", "")
	if !waitFor(10*time.Second, func() bool { return k.view().NotReady == "" }) {
		t.Fatalf("not ready after the scanner is back: %+v", k.view())
	}
	n, longest, closed := p.result()
	t.Logf("unplugged: %d keepalives, longest gap %v (time-out %v); alarm %s", n, longest, testDogTimeout, absent)
	if longest >= testDogTimeout || n < int(3*testDogTimeout/testDogInterval)/2 || closed {
		t.Fatalf("watchdog while unplugged: %d keepalives, longest gap %v, magic close %v: the board would have reset", n, longest, closed)
	}
}

// hangable is a scanner driver with a bug: while hung its Status ignores
// its context and never returns, so the device loop that asks it hangs.
type hangable struct {
	scanner.Scanner
	mu   sync.Mutex
	hung chan struct{} // non-nil while hung; closed to release
}

func (h *hangable) Status(ctx context.Context) (scanner.Status, error) {
	h.mu.Lock()
	c := h.hung
	h.mu.Unlock()
	if c != nil {
		<-c
	}
	return h.Scanner.Status(ctx)
}

func (h *hangable) hang() {
	h.mu.Lock()
	h.hung = make(chan struct{})
	h.mu.Unlock()
}

func (h *hangable) release() {
	h.mu.Lock()
	if h.hung != nil {
		close(h.hung)
		h.hung = nil
	}
	h.mu.Unlock()
}

// TestHungLoopStopsWatchdog: the watchdog resets a hung appliance. When
// the device loop hangs (its driver ignores the time-out), the keepalives
// stop for longer than the watchdog's time-out, with no magic close: a
// real watchdog resets the board. A missing scanner (the test above) is
// no hang.
func TestHungLoopStopsWatchdog(t *testing.T) {
	h := &hangable{}
	k := startTestKiosk(t, kioskOptions{tune: func(p *appliance.Parts) {
		h.Scanner = p.Scanner
		p.Scanner = h
	}})
	t.Cleanup(h.release)
	p := k.watchPets()
	if !waitFor(10*time.Second, func() bool { return p.sinceLast() < testDogInterval }) {
		t.Fatal("no keepalives at start")
	}
	h.hang()
	hungAt := time.Now()
	// The device loop's heartbeat may be 3 rounds + 5 s old before the
	// check fails; then no keepalive comes for a whole time-out.
	if !waitFor(30*time.Second, func() bool { return p.sinceLast() > testDogTimeout+testDogInterval }) {
		t.Fatalf("a hung device loop: keepalives go on (last %v ago)", p.sinceLast())
	}
	stoppedAfter := time.Since(hungAt) - p.sinceLast()
	h.release()
	n, longest, closed := p.result()
	t.Logf("hung: keepalives stopped %v after the hang, gap %v > time-out %v (%d keepalives in all)", stoppedAfter.Round(time.Millisecond), longest.Round(time.Millisecond), testDogTimeout, n)
	if closed {
		t.Fatal("the watchdog was disarmed (magic close) while the appliance hung")
	}
}

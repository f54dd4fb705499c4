package session

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/printer"
	"github.com/einwurf/einwurf/drivers/printer/escpos"
	printersim "github.com/einwurf/einwurf/drivers/printer/sim"
	"github.com/einwurf/einwurf/drivers/scanner/sim"
)

// The parts the visit calls that may be slow — CanAccept (the appliance
// looks at the outbox's disk) and the receipt's Labels (a message
// catalogue to read) — are called without the visit's lock, which every
// screen update, tap and event stream of the UI needs. Each here asks the
// visit itself: under the lock that would deadlock (and the test would
// fail at its guard), so every path that calls them shows it runs outside.
func TestSlowPartsOutsideLock(t *testing.T) {
	k, _, clk, _, srv := setup(t, sim.Options{Sheets: 1, Duplex: true})
	ctx := context.Background()
	var asked, labelled atomic.Int64
	var refuse atomic.Pointer[error]
	k.cfg.CanAccept = func() error {
		k.View()
		asked.Add(1)
		if e := refuse.Load(); e != nil {
			return *e
		}
		return nil
	}
	p, err := printersim.New(escpos.DefaultProfile())
	if err != nil {
		t.Fatal(err)
	}
	p.SetStatus(printer.Status{Online: true})
	k.cfg.Printer = p
	k.cfg.Labels = func(string) printer.Labels {
		k.View()
		labelled.Add(1)
		return printer.German
	}
	// do runs f, failing the test if it does not return: then it waits
	// for the lock it holds.
	do := func(what string, f func() error) error {
		t.Helper()
		done := make(chan error, 1)
		before := asked.Load()
		go func() { done <- f() }()
		select {
		case err := <-done:
			if asked.Load() == before && what != "tick" {
				t.Fatalf("%s: CanAccept not asked", what)
			}
			return err
		case <-time.After(time.Minute):
			t.Fatalf("%s: still waiting after a minute: a part called under the visit's lock", what)
			return nil
		}
	}
	if err := do("identify", func() error { return k.Identify("035F083761") }); err != nil {
		t.Fatal(err)
	}
	if err := do("scan", func() error { return k.Scan(ctx) }); err != nil {
		t.Fatal(err)
	}
	if err := do("claim", func() error { return k.Identify("111A222333") }); err != nil {
		t.Fatal(err)
	}
	if err := do("not mine", k.NotMine); err != nil {
		t.Fatal(err)
	}
	if v := k.View(); v.State != Identified || v.Masked != "111A****33" {
		t.Fatalf("after not mine: %+v", v)
	}
	if err := do("type", func() error { return k.Type("035F083761") }); err != nil {
		t.Fatal(err)
	}
	if err := do("accept", k.Accept); err != nil {
		t.Fatal(err)
	}
	srv.Load(1)
	if err := do("scan again", func() error { return k.Scan(ctx) }); err != nil {
		t.Fatal(err)
	}
	// A claim that runs out at a Tick starts the new number's visit only
	// if the kiosk can accept: asked before the lock too.
	if err := do("claim again", func() error { return k.Identify("222B333444") }); err != nil {
		t.Fatal(err)
	}
	down := errors.New("spool full")
	refuse.Store(&down)
	clk.t = clk.t.Add(15 * time.Second)
	before := asked.Load()
	do("tick", func() error { k.Tick(); return nil })
	if v := k.View(); asked.Load() == before || v.State != Idle || v.ErrorKey != "cannot-accept" || v.Scanned != 0 {
		t.Fatalf("claim ran out while the kiosk cannot accept: %+v (CanAccept asked %d times)", v, asked.Load()-before)
	}
	refuse.Store(nil)
	// The receipt: its labels are read in the printing goroutine.
	k.Identify("035F083761")
	srv.Load(1)
	if err := k.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Confirm(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		ch := k.Changes()
		if v := k.View(); v.Printed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("receipt never printed (labels asked %d times): %+v", labelled.Load(), k.View())
		}
		select {
		case <-ch:
		case <-time.After(time.Second):
		}
	}
	if labelled.Load() == 0 || len(p.Receipts()) != 1 {
		t.Fatalf("labels asked %d times, %d receipts", labelled.Load(), len(p.Receipts()))
	}
}

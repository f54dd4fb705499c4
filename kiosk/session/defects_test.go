package session

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/printer"
	"github.com/einwurf/einwurf/drivers/printer/escpos"
	printersim "github.com/einwurf/einwurf/drivers/printer/sim"
	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/drivers/scanner/sim"
	"github.com/einwurf/einwurf/kiosk/ident"
)

// Defect 1: a visit left at the review screen is not taken over by the
// next customer's barcode.
func TestNewNumberNeverInheritsPages(t *testing.T) {
	k, rec, clk, work, srv := setup(t, sim.Options{Sheets: 1, Duplex: true})
	ctx := context.Background()
	k.Identify("035F083761")
	if err := k.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	// The next customer's barcode: asked, not attached.
	if err := k.Identify("111A222333"); err != nil {
		t.Fatal(err)
	}
	v := k.View()
	if v.State != Claim || v.ClaimMasked != "111A****33" || v.Masked != "" || len(v.Pages) != 0 || v.Countdown != 15 {
		t.Fatalf("claim: %+v", v)
	}
	if _, err := k.Confirm(ctx); !errors.Is(err, ErrState) {
		t.Fatalf("confirm while claimed: %v", err)
	}
	// The same number again (reader or keypad): the pages stay.
	if err := k.Type("035f083761"); err != nil {
		t.Fatal(err)
	}
	if v := k.View(); v.State != Review || v.Scanned != 2 || v.Masked != "035F****61" {
		t.Fatalf("same number again: %+v", v)
	}
	// Another number, and the countdown runs out: wiped, a new visit.
	k.Identify("111A222333")
	clk.t = clk.t.Add(14 * time.Second)
	k.Tick()
	if v := k.View(); v.State != Claim || v.Countdown != 1 {
		t.Fatalf("claim after 14s: %+v", v)
	}
	clk.t = clk.t.Add(time.Second)
	k.Tick()
	if v := k.View(); v.State != Identified || v.Scanned != 0 || v.Masked != "111A****33" {
		t.Fatalf("after the countdown: %+v", v)
	}
	if n := entries(t, k, work); n != 1 {
		t.Fatalf("%d visit folders, want only the new one", n)
	}
	// "Not mine" wipes at once.
	srv.Load(1)
	k.Scan(ctx)
	k.Identify("035F083761")
	if err := k.NotMine(); err != nil {
		t.Fatal(err)
	}
	if v := k.View(); v.State != Identified || v.Scanned != 0 || v.Masked != "035F****61" {
		t.Fatalf("after not mine: %+v", v)
	}
	if len(rec.docs) != 0 {
		t.Fatal("something was sent")
	}
}

// Defect 2: a typed number is shown in full for checking; the pages'
// Data Matrix disagreeing must be chosen on before sending.
func TestTypedNumberCheckedInFull(t *testing.T) {
	k, rec, _, _, _ := setup(t, sim.Options{Sheets: 1, Duplex: true, Code: "035F083761"})
	if err := k.Type("035F083716"); err != nil {
		t.Fatal(err)
	}
	if v := k.View(); v.State != Checking || v.Typed != "035F083716" || v.Masked != "" {
		t.Fatalf("checking: %+v", v)
	}
	// A typo seen: type again.
	if err := k.Retype(); err != nil {
		t.Fatal(err)
	}
	if v := k.View(); v.State != Idle || v.Typed != "" {
		t.Fatalf("retype: %+v", v)
	}
	k.Type("035F083716") // the typo, accepted this time
	if err := k.Accept(); err != nil {
		t.Fatal(err)
	}
	if v := k.View(); v.State != Identified || v.Typed != "" || v.Masked != "035F****16" {
		t.Fatalf("accepted: %+v", v)
	}
	k.Scan(context.Background())
	v := k.View()
	if len(v.Choices) != 2 || v.Choices[0].Masked != "035F****16" || v.Choices[1].Masked != "035F**3761"[:0]+"035F****61" || !v.Choices[1].FromPages {
		t.Fatalf("choices: %+v", v.Choices)
	}
	if _, err := k.Confirm(context.Background()); !errors.Is(err, ErrChoose) || len(rec.docs) != 0 {
		t.Fatalf("sent before choosing: %v", err)
	}
	if k.View().ErrorKey != "choose-number" {
		t.Fatal("no reason shown")
	}
	k.Choose(1)
	if _, err := k.Confirm(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := rec.docs[0].Number.String(); n != "035F083761" {
		t.Fatalf("sent under %s", n)
	}
}

func TestMaskedApart(t *testing.T) {
	a, _ := ident.Parse("035F083761")
	b, _ := ident.Parse("035F093761")
	if a.Masked() != b.Masked() || a.MaskedApart(a, b) != "035F*8**61" || b.MaskedApart(a, b) != "035F*9**61" {
		t.Fatalf("%s %s", a.MaskedApart(a, b), b.MaskedApart(a, b))
	}
}

// Defect 3: everything a customer gave or saw is gone when the visit ends,
// by any path.
func TestEverythingWipedByAnyPath(t *testing.T) {
	k, _, clk, work, srv := setup(t, sim.Options{Sheets: 1, Duplex: true, Code: "111A222333"})
	ctx := context.Background()
	last := "" // the capability of the last visit
	clean := func(how string) {
		t.Helper()
		v := k.View()
		if v.State != Idle || v.Masked != "" || v.Typed != "" || v.Scanned != 0 || len(v.Choices) != 0 ||
			v.ClaimMasked != "" || v.Receipt != nil || v.Warning != "" || v.Visit != "" || entries(t, k, work) != 0 {
			t.Fatalf("%s left %+v, %d entries", how, v, entries(t, k, work))
		}
		if _, err := k.Thumbnail(last, 0, 320); err == nil {
			t.Fatalf("%s: a thumbnail is still there", how)
		}
	}
	visit := func() {
		t.Helper()
		srv.Load(1)
		k.Type("035F083761")
		k.Accept()
		if err := k.Scan(ctx); err != nil {
			t.Fatal(err)
		}
		last = k.View().Thumbs
		if _, err := k.Thumbnail(last, 0, 320); err != nil {
			t.Fatal(err)
		}
	}
	visit()
	k.Cancel()
	clean("cancel")
	visit()
	clk.t = clk.t.Add(time.Minute + 20*time.Second)
	k.Tick()
	clean("idle time-out")
	visit()
	k.Identify("222B333444")
	clk.t = clk.t.Add(15 * time.Second)
	k.Tick()
	k.Cancel()
	clean("claim time-out, then cancel")
	visit()
	k.Choose(0)
	if _, err := k.Confirm(ctx); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(31 * time.Second)
	k.Tick()
	clean("receipt time-out")
	k.Type("035F083761")
	clk.t = clk.t.Add(time.Minute + 20*time.Second)
	k.Tick()
	clean("typed, then walked away")
}

// Defect 4: errors stay until acknowledged; an out-of-service kiosk takes
// no number; a code that is no number is told; no review of zero pages.
func TestErrorsStayAndRefusals(t *testing.T) {
	k, _, clk, _, srv := setup(t, sim.Options{Sheets: 1, Duplex: true})
	k.Identify("HELLO WORLD")
	for range 3 {
		clk.t = clk.t.Add(time.Second)
		k.Tick()
		if v := k.View(); v.ErrorKey != "not-a-number" || v.State != Idle {
			t.Fatalf("reader error: %+v", v)
		}
	}
	k.Dismiss()
	if v := k.View(); v.ErrorKey != "" {
		t.Fatalf("dismissed: %+v", v)
	}
	k.Type("12")
	if v := k.View(); v.ErrorKey != "invalid-number" || v.State != Idle {
		t.Fatalf("typed error: %+v", v)
	}
	// Out of service: no number taken, by reader or keypad.
	down := errors.New("spool full")
	k.cfg.CanAccept = func() error { return down }
	if err := k.Identify("035F083761"); !errors.Is(err, ErrCannotAccept) {
		t.Fatalf("identify out of service: %v", err)
	}
	if err := k.Type("035F083761"); !errors.Is(err, ErrCannotAccept) {
		t.Fatalf("type out of service: %v", err)
	}
	if v := k.View(); v.State != Idle || v.ErrorKey != "cannot-accept" {
		t.Fatalf("out of service: %+v", v)
	}
	// While it cannot accept, the refusal stays; once it can, the next
	// tick takes it off the idle screen: whoever comes next reads no old
	// refusal.
	k.Tick()
	if v := k.View(); v.ErrorKey != "cannot-accept" {
		t.Fatalf("a tick while still out of service: %+v", v)
	}
	k.cfg.CanAccept = nil
	k.Tick()
	if v := k.View(); v.State != Idle || v.ErrorKey != "" {
		t.Fatalf("back in service, the refusal is still shown: %+v", v)
	}
	// Cover open: the reason, and no review of nothing.
	k.Identify("035F083761")
	srv.SetFaults(sim.Faults{CoverOpen: true})
	if err := k.Scan(context.Background()); !errors.Is(err, scanner.ErrCoverOpen) {
		t.Fatalf("scan: %v", err)
	}
	if v := k.View(); v.State != Identified || v.ErrorKey != "cover-open" || v.Scanned != 0 {
		t.Fatalf("cover open: %+v", v)
	}
	if _, err := k.Confirm(context.Background()); !errors.Is(err, ErrState) {
		t.Fatalf("confirm of nothing: %v", err)
	}
	// All pages removed: nothing to send, and it says so.
	srv.SetFaults(sim.Faults{})
	srv.Load(1)
	k.Scan(context.Background())
	k.Toggle(0)
	k.Toggle(1)
	if _, err := k.Confirm(context.Background()); !errors.Is(err, ErrNoPages) || k.View().ErrorKey != "no-pages" {
		t.Fatalf("confirm with no page kept: %v", err)
	}
}

func TestStopScan(t *testing.T) {
	k, _, _, _, _ := setup(t, sim.Options{Sheets: 20, Duplex: true, PageDelay: 100 * time.Millisecond})
	k.Identify("035F083761")
	done := make(chan error, 1)
	go func() { done <- k.Scan(context.Background()) }()
	deadline := time.Now().Add(30 * time.Second)
	for k.View().Scanned < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no page")
		}
		<-k.Changes()
	}
	if err := k.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("stopped scan: %v", err)
	}
	if v := k.View(); v.State != Review || v.Scanned < 2 || v.Scanned >= 40 || v.ErrorKey != "" {
		t.Fatalf("after stop: %+v", v)
	}
}

// gate is a Submitter that waits until released.
type gate struct {
	recorder
	release chan struct{}
}

func (g *gate) Submit(ctx context.Context, d Document) (Receipt, error) {
	<-g.release
	return g.recorder.Submit(ctx, d)
}

// The UI sees "submitting": Confirm does its slow work outside the lock.
func TestSubmittingIsVisible(t *testing.T) {
	k, _, _, _, _ := setup(t, sim.Options{Sheets: 1, Duplex: true})
	g := &gate{release: make(chan struct{})}
	k.cfg.Submitter = g
	k.Identify("035F083761")
	k.Scan(context.Background())
	changes := k.Changes()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); k.Confirm(context.Background()) }()
	<-changes
	if v := k.View(); v.State != Submitting {
		t.Fatalf("state %s", v.State)
	}
	if err := k.Cancel(); !errors.Is(err, ErrState) {
		t.Fatalf("cancel while submitting: %v", err)
	}
	close(g.release)
	wg.Wait()
	if v := k.View(); v.State != Done || v.Receipt == nil {
		t.Fatalf("after: %+v", v)
	}
}

func TestIdleWarning(t *testing.T) {
	k, _, clk, _, _ := setup(t, sim.Options{Sheets: 1})
	k.Identify("035F083761")
	clk.t = clk.t.Add(time.Minute)
	k.Tick()
	if v := k.View(); !v.IdleWarning || v.Countdown != 20 {
		t.Fatalf("warning: %+v", v)
	}
	k.StillHere()
	if v := k.View(); v.IdleWarning || v.State != Identified {
		t.Fatalf("still here: %+v", v)
	}
}

func TestReceiptPrinted(t *testing.T) {
	k, _, _, _, _ := setup(t, sim.Options{Sheets: 1, Duplex: true})
	p, err := printersim.New(escpos.DefaultProfile())
	if err != nil {
		t.Fatal(err)
	}
	p.SetStatus(printer.Status{Online: true, PaperOut: true})
	k.cfg.Printer = p
	k.Tick()
	if v := k.View(); v.PrinterKey != "printer-paper" {
		t.Fatalf("printer warning before scanning: %+v", v)
	}
	k.Identify("035F083761")
	if err := k.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Confirm(context.Background()); err != nil {
		t.Fatal(err)
	}
	wait := func(cond func(View) bool) View {
		t.Helper()
		for range 100 {
			ch := k.Changes()
			if v := k.View(); cond(v) {
				return v
			}
			select {
			case <-ch:
			case <-time.After(5 * time.Second):
			}
		}
		t.Fatalf("never: %+v", k.View())
		return View{}
	}
	v := wait(func(v View) bool { return !v.Printing })
	if v.PrintErrorKey != "printer-paper" || v.Printed || v.Receipt == nil {
		t.Fatalf("out of paper: %+v", v)
	}
	p.SetStatus(printer.Status{Online: true})
	if err := k.Reprint(); err != nil {
		t.Fatal(err)
	}
	v = wait(func(v View) bool { return !v.Printing })
	if !v.Printed || v.PrintErrorKey != "" || len(p.Receipts()) != 1 {
		t.Fatalf("reprinted: %+v, %d receipts", v, len(p.Receipts()))
	}
}

package escpos_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/printer"
	"github.com/einwurf/einwurf/drivers/printer/escpos"
	"github.com/einwurf/einwurf/drivers/printer/printertest"
	"github.com/einwurf/einwurf/drivers/printer/sim"
	"github.com/einwurf/einwurf/drivers/usb"
	"github.com/einwurf/einwurf/drivers/usb/usbtest"
)

func testReceipt() printer.Receipt {
	return printer.Receipt{Office: "Jobcenter Musterstadt", Kiosk: "Kiosk 3", Time: time.Date(2026, 12, 1, 9, 41, 0, 0, time.UTC),
		Masked: "035F****61", Team: "Arbeitsvermittlung", Pages: 3, Code: "3F2A-9C0D-4E5B", QR: "EW1:TEST"}
}

func plugged(t *testing.T) (*sim.Printer, *usbtest.Host, *usbtest.Device, *escpos.USB) {
	t.Helper()
	p, err := sim.New(escpos.DefaultProfile())
	if err != nil {
		t.Fatal(err)
	}
	h := usbtest.NewHost()
	d := sim.NewUSBDevice(p)
	h.Plug(d)
	u := escpos.NewUSB(h, escpos.WithTimeout(10*time.Second))
	t.Cleanup(func() { _ = u.Close() })
	return p, h, d, u
}

func TestUSBPrint(t *testing.T) {
	p, _, d, u := plugged(t)
	ctx := context.Background()
	st, err := u.Status(ctx)
	if err != nil || st != (printer.Status{Online: true}) {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	if err := u.Print(ctx, testReceipt()); err != nil {
		t.Fatal(err)
	}
	if err := p.Err(); err != nil {
		t.Fatalf("printer saw: %v", err)
	}
	if n := len(p.Receipts()); n != 1 {
		t.Fatalf("%d receipts, want 1", n)
	}
	// Every byte of the receipt went over bulk OUT, besides the status
	// requests; the port status went over the control endpoint.
	want, _ := escpos.Encode(testReceipt(), escpos.DefaultProfile())
	if got := p.Received(); got != len(want)+3*len(escpos.RealtimeQuery()) {
		t.Fatalf("printer received %d bytes, want %d of receipt and three status queries", got, len(want))
	}
	if d.Controls() < 3 {
		t.Fatalf("%d control transfers, want the port status before and after", d.Controls())
	}
}

func TestUSBFaults(t *testing.T) {
	p, _, _, u := plugged(t)
	ctx := context.Background()
	printertest.CheckFaults(t, u, p.SetStatus, testReceipt())
	if len(p.Receipts()) != 0 || p.Dropped() != 0 {
		t.Fatalf("printed %d, dropped %d bytes: nothing may be sent to a printer that is not ready", len(p.Receipts()), p.Dropped())
	}
	p.SetStatus(printer.Status{Online: true, PaperLow: true})
	if st, err := u.Status(ctx); err != nil || !st.PaperLow || st.Err() != nil {
		t.Fatalf("near end: %+v %v", st, err)
	}
}

func TestUSBUnplug(t *testing.T) {
	p, h, d, u := plugged(t)
	ctx := context.Background()
	h.Unplug(d)
	if err := u.Print(ctx, testReceipt()); !errors.Is(err, printer.ErrOffline) {
		t.Fatalf("Print unplugged = %v", err)
	}
	if _, err := u.Status(ctx); !errors.Is(err, printer.ErrOffline) {
		t.Fatalf("Status unplugged = %v", err)
	}
	d2 := sim.NewUSBDevice(p)
	h.Plug(d2)
	if err := u.Print(ctx, testReceipt()); err != nil {
		t.Fatalf("Print after re-plug: %v", err)
	}
	if len(p.Receipts()) != 1 {
		t.Fatal("no receipt after re-plug")
	}
}

// A printer that does not answer real-time requests (some models switch
// them off) is still judged by its port status.
func TestUSBPortStatusOnly(t *testing.T) {
	p, err := sim.New(escpos.DefaultProfile())
	if err != nil {
		t.Fatal(err)
	}
	h := usbtest.NewHost()
	h.Plug(usbtest.NewFuncDevice(mute{p}, sim.Interface))
	u := escpos.NewUSB(h, escpos.WithTimeout(50*time.Millisecond))
	defer u.Close()
	p.SetStatus(printer.Status{PaperOut: true})
	if err := printer.Ready(context.Background(), u); !errors.Is(err, printer.ErrPaperOut) {
		t.Fatalf("Ready = %v", err)
	}
	p.SetStatus(printer.Status{Online: true})
	if err := printer.Ready(context.Background(), u); err != nil {
		t.Fatalf("Ready = %v", err)
	}
}

// A device without a printer interface is not taken for one.
func TestUSBNoPrinter(t *testing.T) {
	h := usbtest.NewHost()
	h.Plug(usbtest.NewFuncDevice(mute{}, usb.Interface{Config: 1, Number: 0, In: 1, Out: 1, Class: 7, SubClass: 1, Protocol: 4}))
	u := escpos.NewUSB(h)
	if _, err := u.Status(context.Background()); !errors.Is(err, printer.ErrOffline) || !errors.Is(err, usb.ErrNotFound) {
		t.Fatalf("Status = %v", err)
	}
}

// mute is a printer that answers the port status but never on bulk IN.
type mute struct{ p *sim.Printer }

func (m mute) Out(_ context.Context, _ int, b []byte) (int, error) {
	if bytes.Equal(b, escpos.RealtimeQuery()) {
		return len(b), nil
	}
	return m.p.Write(b)
}
func (m mute) In(context.Context, int, []byte) (int, error) { return 0, nil }
func (m mute) Control(_ context.Context, _, _ uint8, _, _ uint16, data []byte) (int, error) {
	data[0] = m.p.PortStatus()
	return 1, nil
}

// Paper that runs out in the middle of a receipt is reported, so the
// kiosk knows the customer holds no complete one.
func TestUSBPaperRunsOut(t *testing.T) {
	p, err := sim.New(escpos.DefaultProfile())
	if err != nil {
		t.Fatal(err)
	}
	h := usbtest.NewHost()
	h.Plug(usbtest.NewFuncDevice(&runsOut{mute: mute{p}, after: 2000}, sim.Interface))
	u := escpos.NewUSB(h, escpos.WithTimeout(50*time.Millisecond))
	defer u.Close()
	if err := u.Print(context.Background(), testReceipt()); !errors.Is(err, printer.ErrPaperOut) {
		t.Fatalf("Print = %v, want ErrPaperOut", err)
	}
	if len(p.Receipts()) != 0 {
		t.Fatal("a cut receipt although the paper ran out")
	}
}

// runsOut is a printer whose roll ends after some bytes of print data.
type runsOut struct {
	mute
	after int
	n     int
}

func (r *runsOut) Out(ctx context.Context, i int, b []byte) (int, error) {
	if r.n += len(b); r.n > r.after {
		r.p.SetStatus(printer.Status{PaperOut: true})
	}
	return r.mute.Out(ctx, i, b)
}

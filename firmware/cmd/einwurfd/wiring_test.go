package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/barcode"
	"github.com/einwurf/einwurf/drivers/printer/escpos"
	printersim "github.com/einwurf/einwurf/drivers/printer/sim"
	"github.com/einwurf/einwurf/drivers/usb"
	"github.com/einwurf/einwurf/firmware/appliance"
	"github.com/einwurf/einwurf/internal/testtool"
	"github.com/einwurf/einwurf/kiosk/speech"
)

// TestDeviceWiring shows einwurfd's own composition finding its receipt
// printer and speaker: without a USB printer the customer is told before
// scanning; once a printer of class 7/1/2 is plugged into the USB bus
// (usbtest, with the printer simulator behind it) the visit's receipt is
// printed on it over ESC/POS; the UI's speech goes to espeak-ng. Without
// USB at all there is no printer, and the log says why.
func TestDeviceWiring(t *testing.T) {
	espeak := testtool.NeedTool(t, "espeak-ng")
	wav := filepath.Join(t.TempDir(), "said.wav")
	var parts appliance.Parts
	k := startTestKiosk(t, kioskOptions{tune: func(p *appliance.Parts) {
		if e, ok := p.Speaker.(*speech.Espeak); ok {
			e.Program, e.WAV = espeak, wav // rendered to a file, not the speaker
		}
		parts = *p
	}})
	usbPrinter, ok := parts.Printer.(*escpos.USB)
	if !ok {
		t.Fatalf("einwurfd's printer is %T, want the ESC/POS USB printer", parts.Printer)
	}
	if _, err := escpos.SystemFont(); err == nil && usbPrinter.Profile().Font == nil {
		t.Fatal("the board has a font for Arabic receipts, the printer does not use it")
	}
	if _, ok := parts.Speaker.(*speech.Espeak); !ok {
		t.Fatalf("einwurfd's speaker is %T, want espeak-ng", parts.Speaker)
	}

	// No printer on the bus: told before scanning.
	if !waitFor(20*time.Second, func() bool { return k.a.Kiosk.View().PrinterKey == "printer" }) {
		t.Fatalf("no printer plugged, the screen says %q", k.a.Kiosk.View().PrinterKey)
	}
	// The printer plugged in: found by its class, the notice goes.
	prn, err := printersim.New(escpos.DefaultProfile())
	if err != nil {
		t.Fatal(err)
	}
	dev := printersim.NewUSBDevice(prn)
	dev.SetSocket(1, 3)
	k.host.Plug(dev)
	if !waitFor(20*time.Second, func() bool { return k.a.Kiosk.View().PrinterKey == "" }) {
		t.Fatalf("printer plugged, the screen still says %q", k.a.Kiosk.View().PrinterKey)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := k.a.Kiosk.Identify("035F083761"); err != nil {
		t.Fatal(err)
	}
	if err := k.a.Kiosk.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := k.a.Kiosk.Confirm(ctx); err != nil {
		t.Fatal(err)
	}
	if !waitFor(30*time.Second, func() bool { return len(prn.Receipts()) == 1 && k.a.Kiosk.View().Printed }) {
		t.Fatalf("%d receipts printed (view %+v, printer error %v)", len(prn.Receipts()), k.a.Kiosk.View(), prn.Err())
	}
	if txt := prn.Text(); !strings.Contains(txt, "035F****61") {
		t.Fatalf("printed receipt:\n%s", txt)
	}
	k.a.Kiosk.Cancel()

	// The UI's speech reaches espeak-ng.
	r, err := http.Post(k.a.UIURL+"api/speak", "application/json", strings.NewReader(`{"lang":"de","text":"Willkommen"}`))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if fi, err := os.Stat(wav); err != nil || r.StatusCode != http.StatusNoContent || fi.Size() < 4000 {
		t.Fatalf("speech: %s, %v %v", r.Status, fi, err)
	}

	// No USB at all: no printer, and the log says so.
	var log bytes.Buffer
	if p := openPrinter(nil, func() (usb.Host, error) { return nil, errors.New("libusb: no device access") },
		slog.New(slog.NewTextHandler(&log, nil))); p != nil {
		t.Fatalf("a printer without USB: %T", p)
	}
	if !strings.Contains(log.String(), "no receipt printer") {
		t.Fatalf("log %q", log.String())
	}
}

// TestReadersClosedWithTheAppliance: einwurfd's customer reader (the
// imager on the UART) and its badge reader are closed when the appliance
// closes. Left open, the imager went on reopening its serial port after
// the kiosk stopped: it took the bytes of the next program (or test) to
// get the same pseudo-terminal, and logged on a finished test's output.
func TestReadersClosedWithTheAppliance(t *testing.T) {
	var parts appliance.Parts
	k := startTestKiosk(t, kioskOptions{tune: func(p *appliance.Parts) { parts = *p }})
	if parts.Reader == nil || parts.Service.Badges == nil {
		t.Fatalf("einwurfd's readers: customer %T, badges %T", parts.Reader, parts.Service.Badges)
	}
	k.a.Close()
	for what, r := range map[string]barcode.Reader{"the imager": parts.Reader, "the badge reader": parts.Service.Badges} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := r.Read(ctx)
		cancel()
		if !errors.Is(err, barcode.ErrClosed) {
			t.Errorf("%s after the appliance closed: Read = %v, want %v", what, err, barcode.ErrClosed)
		}
	}
}

// TestUSBWatchEndsWithTheAppliance: the watch that tells the central of a
// USB scanner unplugged and back is the appliance's, and Close waits for
// it: after Close the bus is not listed again (before, it went on with
// einwurfd's start context and could send and log after the kiosk
// stopped).
func TestUSBWatchEndsWithTheAppliance(t *testing.T) {
	var listed atomic.Int64
	k := startTestKiosk(t, kioskOptions{tune: func(p *appliance.Parts) {
		if p.USB == nil {
			t.Errorf("einwurfd gives the appliance no USB host to watch")
			return
		}
		p.USB = countingHost{Host: p.USB, n: &listed}
	}})
	if !waitFor(30*time.Second, func() bool { return listed.Load() > 0 }) {
		t.Fatal("the USB bus is never listed")
	}
	k.a.Close()
	after := listed.Load()
	time.Sleep(4 * usb.DefaultPoll)
	if n := listed.Load() - after; n != 0 {
		t.Fatalf("the bus was listed %d more times after the appliance closed", n)
	}
}

// countingHost counts List calls.
type countingHost struct {
	usb.Host
	n *atomic.Int64
}

func (h countingHost) List(ctx context.Context) ([]usb.Desc, error) {
	h.n.Add(1)
	return h.Host.List(ctx)
}

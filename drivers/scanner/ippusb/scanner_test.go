package ippusb_test

import (
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/drivers/scanner/escl"
	"github.com/einwurf/einwurf/drivers/scanner/ippusb"
	"github.com/einwurf/einwurf/drivers/scanner/sim"
	"github.com/einwurf/einwurf/drivers/usb"
	"github.com/einwurf/einwurf/drivers/usb/usbtest"
)

// TestScannerSurvivesReplug uses the Scanner through unplug and re-plug.
func TestScannerSurvivesReplug(t *testing.T) {
	s, err := sim.Start(sim.Options{Sheets: 1, Resolution: 150, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d, err := usbtest.NewDevice(s.Handler(), 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown()
	h := usbtest.NewHost()
	sc := ippusb.NewScanner(h, usb.Desc.IsIPP, []ippusb.Option{ippusb.WithTransferTimeout(50 * time.Millisecond)}, escl.WithRetry(2, time.Millisecond, time.Millisecond))
	defer sc.Close()
	ctx := ctxT(t, 30*time.Second)

	if _, err := sc.Status(ctx); !errors.Is(err, scanner.ErrUnplugged) {
		t.Fatalf("no device: %v, want ErrUnplugged", err)
	}
	h.Plug(d)
	j, err := sc.Scan(ctx, scanner.Settings{Resolution: 150})
	if err != nil {
		t.Fatal(err)
	}
	p, err := j.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, p.Body); err != nil {
		t.Fatal(err)
	}
	_ = p.Body.Close()
	_ = j.Close()

	h.Unplug(d)
	for i := range 2 { // first through the dead transport, then with none
		if _, err := sc.Status(ctx); !errors.Is(err, scanner.ErrUnplugged) {
			t.Fatalf("unplugged, call %d: %v, want ErrUnplugged", i, err)
		}
	}
	h.Plug(d)
	st, err := sc.Status(ctx)
	if err != nil || st.State != scanner.StateIdle {
		t.Fatalf("after re-plug: %+v %v", st, err)
	}
	caps, err := sc.Capabilities(ctx)
	if err != nil || !errors.Is(st.Err, scanner.ErrFeederEmpty) || caps.MakeAndModel == "" {
		t.Fatalf("after re-plug: caps %+v status %+v %v", caps, st, err)
	}
}

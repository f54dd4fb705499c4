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

// USB quirks known by make and model: the HP ScanJet Pro 4500 fn1 is used
// over one interface only, the HP OfficeJet Pro 8710 is reset at open.
func TestScannerUSBQuirks(t *testing.T) {
	for _, tc := range []struct {
		model  string
		ifaces int
		resets int
	}{
		{"HP ScanJet Pro 4500 fn1", 1, 0},
		{"HP OfficeJet Pro 8710", 2, 1},
		{"Einwurf Simulated Duplex ADF", 2, 0},
	} {
		s, err := sim.Start(sim.Options{Sheets: 1, Resolution: 150, MakeAndModel: tc.model, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		d, err := usbtest.NewDevice(s.Handler(), 2, 0)
		if err != nil {
			t.Fatal(err)
		}
		h := usbtest.NewHost()
		h.Plug(d)
		sc := ippusb.NewScanner(h, usb.Desc.IsIPP, nil)
		ctx := ctxT(t, 30*time.Second)
		if _, err := sc.Capabilities(ctx); err != nil {
			t.Fatalf("%s: %v", tc.model, err)
		}
		if n := sc.Interfaces(); n != tc.ifaces || d.Resets() != tc.resets {
			t.Errorf("%s: %d interfaces, %d resets; want %d, %d", tc.model, n, d.Resets(), tc.ifaces, tc.resets)
		}
		// It still scans.
		j, err := sc.Scan(ctx, scanner.Settings{Resolution: 150})
		if err != nil {
			t.Fatalf("%s: %v", tc.model, err)
		}
		if p, err := j.Next(ctx); err != nil {
			t.Errorf("%s: %v", tc.model, err)
		} else {
			_, _ = io.Copy(io.Discard, p.Body)
		}
		_ = j.Close()
		_ = sc.Close()
		d.Shutdown()
		_ = s.Close()
	}
}

// TestScannerFirmware: an IPP-over-USB scanner's capabilities carry its
// firmware as its USB device descriptor's release number (eSCL's
// capabilities have none), and a re-plugged device with new firmware
// reports the new one.
func TestScannerFirmware(t *testing.T) {
	s, err := sim.Start(sim.Options{Resolution: 150, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d, err := usbtest.NewDevice(s.Handler(), 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown()
	d.SetRelease(0x0142)
	h := usbtest.NewHost()
	h.Plug(d)
	sc := ippusb.NewScanner(h, usb.Desc.IsIPP, nil)
	defer sc.Close()
	ctx := ctxT(t, 30*time.Second)
	c, err := sc.Capabilities(ctx)
	if err != nil || c.Firmware != "1.42" || c.MakeAndModel == "" {
		t.Fatalf("capabilities: %+v %v", c, err)
	}
	h.Unplug(d)
	if _, err := sc.Status(ctx); !errors.Is(err, scanner.ErrUnplugged) {
		t.Fatalf("unplugged: %v", err)
	}
	d.SetRelease(0x0200) // updated while unplugged
	h.Plug(d)
	if _, err := sc.Status(ctx); err != nil {
		t.Fatal(err)
	}
	if c, err := sc.Capabilities(ctx); err != nil || c.Firmware != "2.00" {
		t.Fatalf("after the update: %+v %v", c, err)
	}
}

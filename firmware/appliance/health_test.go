package appliance

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/printer"
	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/drivers/usb"
	"github.com/einwurf/einwurf/kiosk/service"
	"github.com/einwurf/einwurf/kiosk/session"
	kioskui "github.com/einwurf/einwurf/kiosk/ui"
)

type fakePrinter struct {
	st  printer.Status
	err error
}

func (p fakePrinter) Status(context.Context) (printer.Status, error) { return p.st, p.err }
func (p fakePrinter) Print(context.Context, printer.Receipt) error   { return nil }

// Each failing check of the health check after an update's switch reports
// its own reason; what is a person's job (paper out, an unplugged scanner,
// service mode under way) does not fail it.
func TestHealthReasons(t *testing.T) {
	healthy := true
	ui := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" || !healthy {
			http.Error(w, "no", http.StatusInternalServerError)
			return
		}
		w.Write([]byte("ok\n"))
	}))
	defer ui.Close()
	// A version whose customer's visit hangs: the real UI over a visit
	// whose lock is stuck (the session's test seam holds it).
	stuck, err := session.New(session.Config{})
	if err != nil {
		t.Fatal(err)
	}
	release := stuck.HoldLock()
	defer release()
	hungUI := kioskui.New(kioskui.Config{Kiosk: stuck})
	defer hungUI.Close()
	hung := httptest.NewServer(hungUI)
	defer hung.Close()
	good := func() healthParts {
		d := newDevices(time.Second)
		d.status.Store(&scannerSeen{At: time.Now(), Status: scanner.Status{State: scanner.StateIdle}})
		return healthParts{
			connected: func() bool { return true }, publish: func() error { return nil },
			awaitAck:   func(context.Context) error { return nil },
			uplinkDone: make(chan struct{}), uiURL: ui.URL + "/", devices: d,
			printer:   fakePrinter{st: printer.Status{Online: true}},
			diskAlarm: func() bool { return false }, selfTest: func() error { return nil },
		}
	}
	fault := func(err error) func(*healthParts) {
		return func(h *healthParts) { h.devices.fault.Store(&DeviceFault{Device: "scanner", Err: err}) }
	}
	for _, tc := range []struct {
		name   string
		break_ func(*healthParts)
		want   string // "" = passes
	}{
		{"all good", func(*healthParts) {}, ""},
		{"never connected", func(h *healthParts) { h.connected = func() bool { return false } }, HealthUplink},
		{"uplink loop ended", func(h *healthParts) {
			h.connected = func() bool { return false }
			c := make(chan struct{})
			close(c)
			h.uplinkDone = c
		}, HealthUplink},
		{"publish fails", func(h *healthParts) { h.publish = func() error { return errors.New("closed") } }, HealthUplink},
		{"no acknowledgement", func(h *healthParts) {
			h.awaitAck = func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
		}, HealthRoundTrip},
		{"ui fails", func(*healthParts) { healthy = false }, HealthUI},
		{"ui serves but the visit hangs", func(h *healthParts) { h.uiURL = hung.URL + "/" }, HealthUI},
		{"scanner there but silent", fault(scanner.ErrOffline), HealthScanner},
		{"scanner no answer", fault(context.DeadlineExceeded), HealthScanner},
		{"scanner unplugged: known absent", fault(scanner.ErrUnplugged), ""},
		{"scanner never answered", func(h *healthParts) { h.devices.status.Store(nil) }, HealthScanner},
		{"device loop hangs", func(h *healthParts) { h.devices.beat.MaxAge = time.Nanosecond }, HealthScanner},
		{"printer cannot be asked", func(h *healthParts) {
			h.printer = fakePrinter{err: printer.ErrOffline}
		}, HealthPrinter},
		{"printer out of paper", func(h *healthParts) {
			h.printer = fakePrinter{st: printer.Status{PaperOut: true}}
		}, ""},
		{"no printer", func(h *healthParts) { h.printer = nil }, ""},
		{"printer not attached: known absent", func(h *healthParts) {
			h.printer = fakePrinter{err: fmt.Errorf("escpos: no printer: %w: %w", printer.ErrOffline, usb.ErrNotFound)}
		}, ""},
		{"disk alarm", func(h *healthParts) { h.diskAlarm = func() bool { return true } }, HealthDisk},
		{"self-test failed", func(h *healthParts) {
			h.selfTest = func() error { return service.SelfTestError{Err: errors.New("scanner")} }
		}, HealthSelfTest},
		{"service mode under way", func(h *healthParts) { h.selfTest = func() error { return service.ErrActive } }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			healthy = true
			h := good()
			tc.break_(&h)
			// The health deadline: checks that wait give up here.
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			err := runHealth(ctx, h.checks())
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Fatalf("reason %q, want %q", got, tc.want)
			}
		})
	}
}

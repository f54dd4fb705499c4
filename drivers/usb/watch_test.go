package usb_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/usb"
	"github.com/einwurf/einwurf/drivers/usb/usbtest"
)

func device(t *testing.T, ifaces int) *usbtest.Device {
	t.Helper()
	d, err := usbtest.NewDevice(http.NotFoundHandler(), ifaces, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Shutdown() })
	return d
}

// next waits for the next event; the kiosk must see plug changes within
// two seconds.
func next(t *testing.T, ch <-chan usb.Event) usb.Event {
	t.Helper()
	select {
	case e, ok := <-ch:
		if !ok {
			t.Fatal("watch ended")
		}
		return e
	case <-time.After(2 * time.Second):
		t.Fatal("no event within two seconds")
	}
	return usb.Event{}
}

func TestWatchPlugUnplugReplug(t *testing.T) {
	h := usbtest.NewHost()
	scanner := device(t, 2)
	other := device(t, 1) // a printer without IPP-over-USB
	h.Plug(other)
	ctx, cancel := context.WithCancel(context.Background())
	ch := usb.Watch(ctx, h, 0, usb.Desc.IsIPP)

	h.Plug(scanner)
	e := next(t, ch)
	if e.Kind != usb.Added || e.Desc.Socket() != scanner.Desc().Socket() || !e.Desc.IsIPP() {
		t.Fatalf("event %v %+v", e.Kind, e.Desc)
	}
	first := e.Desc.Address

	h.Unplug(scanner)
	if e := next(t, ch); e.Kind != usb.Removed || e.Desc.Address != first {
		t.Fatalf("event %v %+v, want removal", e.Kind, e.Desc)
	}

	h.Plug(scanner)
	e = next(t, ch)
	if e.Kind != usb.Added || e.Desc.Address == first {
		t.Fatalf("re-plug: %v at address %d (first %d)", e.Kind, e.Desc.Address, first)
	}

	// Out and in again between two polls: the new address gives it away.
	h.Unplug(scanner)
	h.Plug(scanner)
	if e := next(t, ch); e.Kind != usb.Removed {
		t.Fatalf("quick re-plug: %v, want removal first", e.Kind)
	}
	if e := next(t, ch); e.Kind != usb.Added {
		t.Fatalf("quick re-plug: %v, want addition", e.Kind)
	}

	cancel()
	for range ch {
	}
}

func TestFakeDeviceTransfers(t *testing.T) {
	d := device(t, 2)
	p := d.Pipes()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := p.WriteContext(ctx, []byte("GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := p.ReadContext(ctx, buf)
	if err != nil || n == 0 || n > 512 {
		t.Fatalf("read %d bytes, %v; want 1..512 (one packet)", n, err)
	}
	if string(buf[:12]) != "HTTP/1.1 404" {
		t.Errorf("answer %q", buf[:n])
	}
	// Nothing more is coming: a short read times out.
	for {
		sctx, scancel := context.WithTimeout(ctx, 100*time.Millisecond)
		_, err = p.ReadContext(sctx, buf)
		scancel()
		if err != nil {
			break
		}
	}
	if err != usb.ErrTimeout {
		t.Errorf("idle read: %v, want ErrTimeout", err)
	}
	d.Unplug()
	if _, err := p.ReadContext(ctx, buf); err != usb.ErrUnplugged {
		t.Errorf("read after unplug: %v", err)
	}
	if err := d.Reset(); err != usb.ErrUnplugged {
		t.Errorf("reset after unplug: %v", err)
	}
}

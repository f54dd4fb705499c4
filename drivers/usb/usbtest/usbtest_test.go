package usbtest_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/usb"
	"github.com/einwurf/einwurf/drivers/usb/usbtest"
)

// echo sends back what it was sent and answers control IN requests with
// their request number.
type echo struct {
	mu  sync.Mutex
	buf []byte
}

func (e *echo) Out(_ context.Context, _ int, p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.buf = append(e.buf, p...)
	return len(p), nil
}

func (e *echo) In(_ context.Context, _ int, p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := copy(p, e.buf)
	e.buf = e.buf[n:]
	return n, nil
}

func (e *echo) Control(_ context.Context, rType, req uint8, _, _ uint16, data []byte) (int, error) {
	if rType&0x80 == 0 || len(data) == 0 {
		return 0, usb.ErrStall
	}
	data[0] = req
	return 1, nil
}

func TestFuncDevice(t *testing.T) {
	printerIf := usb.Interface{Config: 1, Number: 0, In: 1, Out: 2, Class: 7, SubClass: 1, Protocol: 2}
	outOnly := usb.Interface{Config: 1, Number: 1, Out: 3, Class: 7, SubClass: 1, Protocol: 1}
	d := usbtest.NewFuncDevice(&echo{}, printerIf, outOnly)
	h := usbtest.NewHost()
	h.Plug(d)
	ctx := context.Background()
	ds, _ := h.List(ctx)
	if len(ds) != 1 || !ds[0].Has(usb.PrinterBidirectional) || ds[0].IsIPP() {
		t.Fatalf("listed %+v", ds)
	}
	if _, err := h.Claim(ctx, ds[0], usb.IPPOverUSB); !errors.Is(err, usb.ErrNoInterface) {
		t.Fatalf("Claim IPP = %v", err)
	}
	if _, err := h.Open(ctx, ds[0]); !errors.Is(err, usb.ErrNotIPP) {
		t.Fatalf("Open = %v", err)
	}
	hd, err := h.Claim(ctx, ds[0], usb.PrinterBidirectional)
	if err != nil {
		t.Fatal(err)
	}
	ps := hd.Pipes()
	if len(ps) != 1 || ps[0].Interface() != printerIf {
		t.Fatalf("claimed %d pipes", len(ps))
	}
	if _, err := ps[0].WriteContext(ctx, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 64)
	if n, err := ps[0].ReadContext(ctx, b); err != nil || string(b[:n]) != "hello" {
		t.Fatalf("read %q, %v", b[:n], err)
	}
	tctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := ps[0].ReadContext(tctx, b); !errors.Is(err, usb.ErrTimeout) {
		t.Fatalf("read with nothing to send = %v, want ErrTimeout", err)
	}
	if n, err := hd.Control(ctx, 0xa1, 1, 0, 0, b[:1]); err != nil || n != 1 || b[0] != 1 {
		t.Fatalf("control = %d %v", n, err)
	}
	if _, err := hd.Control(ctx, 0x21, 1, 0, 0, nil); !errors.Is(err, usb.ErrStall) {
		t.Fatalf("control OUT = %v, want a stall", err)
	}
	all, _ := h.Claim(ctx, ds[0], usb.Match{Class: 7, SubClass: 1, Protocol: 1})
	if _, err := all.Pipes()[0].ReadContext(ctx, b); !errors.Is(err, usb.ErrNoEndpoint) {
		t.Fatalf("read of an OUT-only interface = %v", err)
	}
	// A read waiting for data ends when the device is pulled out.
	done := make(chan error, 1)
	big := make([]byte, 1024) // marks the read as begun in MaxRead
	go func() { _, err := ps[0].ReadContext(ctx, big); done <- err }()
	for i := 0; d.MaxRead() < len(big) && i < 2000; i++ {
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
	h.Unplug(d)
	select {
	case err := <-done:
		if !errors.Is(err, usb.ErrUnplugged) {
			t.Fatalf("read at unplug = %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("read did not end at unplug")
	}
	if _, err := hd.Control(ctx, 0xa1, 1, 0, 0, b[:1]); !errors.Is(err, usb.ErrUnplugged) {
		t.Fatalf("control after unplug = %v", err)
	}
}

package ippusb_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/drivers/scanner/escl"
	"github.com/einwurf/einwurf/drivers/scanner/ippusb"
	"github.com/einwurf/einwurf/drivers/scanner/sim"
	"github.com/einwurf/einwurf/drivers/usb"
	"github.com/einwurf/einwurf/drivers/usb/usbtest"
)

// rig is a simulated scanner behind a fake USB device, reached through the
// transport by the real eSCL client.
type rig struct {
	sim  *sim.Server
	host *usbtest.Host
	dev  *usbtest.Device
	tr   *ippusb.Transport
	c    *escl.Client
}

func newRig(t *testing.T, o sim.Options, ifaces int, opts ...ippusb.Option) *rig {
	t.Helper()
	s, err := sim.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	d, err := usbtest.NewDevice(s.Handler(), ifaces, 512)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Shutdown() })
	h := usbtest.NewHost()
	h.Plug(d)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ds, err := h.List(ctx)
	if err != nil || len(usb.FindIPP(ds)) != 1 && ifaces >= 2 {
		t.Fatalf("List = %v, %v", ds, err)
	}
	ud, err := h.Open(ctx, d.Desc())
	if err != nil && ifaces >= 2 {
		t.Fatal(err)
	}
	if ud == nil {
		ud = d // one interface is not IPP by the book, but the transport copes
	}
	opts = append([]ippusb.Option{ippusb.WithTransferTimeout(100 * time.Millisecond), ippusb.WithIdleTimeout(2 * time.Minute)}, opts...)
	tr, err := ippusb.New(ud, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	c := escl.New(&http.Client{Transport: tr}, "http://localhost/eSCL", escl.WithRetry(5, time.Millisecond, 10*time.Millisecond))
	return &rig{sim: s, host: h, dev: d, tr: tr, c: c}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// scanAll runs one job and returns the SHA-256 of every page.
func scanAll(ctx context.Context, c *escl.Client, s scanner.Settings) ([]string, []*scanner.Page, error) {
	j, err := c.Scan(ctx, s)
	if err != nil {
		return nil, nil, err
	}
	defer j.Close()
	var sums []string
	var pages []*scanner.Page
	for {
		p, err := j.Next(ctx)
		if err == io.EOF {
			return sums, pages, nil
		}
		if err != nil {
			return sums, pages, err
		}
		h := sha256.New()
		_, err = io.Copy(h, p.Body)
		_ = p.Body.Close()
		if err != nil {
			return sums, pages, err
		}
		sums = append(sums, fmt.Sprintf("%x", h.Sum(nil)))
		pages = append(pages, p)
	}
}

// TestScanOverUSBMatchesNetwork scans the same job over the fake USB device
// and over TCP: the pages must be byte for byte the same, and bulk reads
// never larger than the configured size.
func TestScanOverUSBMatchesNetwork(t *testing.T) {
	o := sim.Options{Sheets: 3, Duplex: true, Code: "035F083761", BlankBacks: []int{2}, Resolution: 150}
	r := newRig(t, o, 2, ippusb.WithReadSize(4096))
	ctx := ctxT(t, 2*time.Minute)
	st := scanner.Settings{Duplex: true, Resolution: 150, ColorMode: scanner.ColorGrayscale8}
	usbSums, pages, err := scanAll(ctx, r.c, st)
	if err != nil {
		t.Fatalf("scan over USB: %v", err)
	}
	if len(usbSums) != 6 {
		t.Fatalf("got %d pages over USB, want 6", len(usbSums))
	}
	for i, p := range pages {
		if p.Sheet != i/2+1 || p.Side != scanner.Side(i%2) || p.Format != scanner.FormatJPEG || p.Width != 1240 {
			t.Errorf("page %d: sheet %d side %v format %s width %d", i, p.Sheet, p.Side, p.Format, p.Width)
		}
	}
	if got := r.dev.MaxRead(); got == 0 || got > 4096 {
		t.Errorf("largest bulk read %d, want 1..4096", got)
	}

	r.sim.Load(3)
	net := escl.New(&http.Client{}, r.sim.URL())
	netSums, _, err := scanAll(ctx, net, st)
	if err != nil {
		t.Fatalf("scan over TCP: %v", err)
	}
	for i := range usbSums {
		if usbSums[i] != netSums[i] {
			t.Errorf("page %d differs between USB and TCP", i)
		}
	}
}

// TestEarlyCloseKeepsStreamInStep closes a page body after a few bytes on a
// one-interface device: the rest must be drained, so the next answers on
// the same interface parse.
func TestEarlyCloseKeepsStreamInStep(t *testing.T) {
	r := newRig(t, sim.Options{Sheets: 2, Resolution: 150}, 1)
	ctx := ctxT(t, 2*time.Minute)
	j, err := r.c.Scan(ctx, scanner.Settings{Resolution: 150, ColorMode: scanner.ColorGrayscale8})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	p, err := j.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	if _, err := io.ReadFull(p.Body, buf); err != nil {
		t.Fatal(err)
	}
	if err := p.Body.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := r.c.Status(ctx)
	if err != nil {
		t.Fatalf("status after early close: %v", err)
	}
	if st.State != scanner.StateProcessing {
		t.Errorf("state %q, want Processing", st.State)
	}
	p, err = j.Next(ctx)
	if err != nil {
		t.Fatalf("second page: %v", err)
	}
	data, err := io.ReadAll(p.Body)
	_ = p.Body.Close()
	if err != nil || !bytes.HasPrefix(data, []byte{0xFF, 0xD8}) {
		t.Fatalf("second page: %d bytes, %v", len(data), err)
	}
	if _, err := j.Next(ctx); err != io.EOF {
		t.Fatalf("after last page: %v, want EOF", err)
	}
}

// TestUnplugMidPage pulls the cable halfway through a page: the reader gets
// ErrUnplugged promptly, and so does every later call.
func TestUnplugMidPage(t *testing.T) {
	r := newRig(t, sim.Options{Sheets: 2, Resolution: 300}, 2, ippusb.WithReadSize(2048))
	ctx := ctxT(t, 2*time.Minute)
	j, err := r.c.Scan(ctx, scanner.Settings{Resolution: 300})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	p, err := j.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(p.Body, make([]byte, 10000)); err != nil {
		t.Fatal(err)
	}
	r.host.Unplug(r.dev)
	start := time.Now()
	_, err = io.Copy(io.Discard, p.Body)
	if !errors.Is(err, scanner.ErrUnplugged) {
		t.Fatalf("read after unplug: %v, want ErrUnplugged", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("unplug noticed after %v", d)
	}
	_ = p.Body.Close()
	select {
	case <-r.tr.Gone():
	default:
		t.Error("transport does not report the device gone")
	}
	if _, err := j.Next(ctx); !errors.Is(err, scanner.ErrUnplugged) {
		t.Errorf("Next after unplug: %v, want ErrUnplugged", err)
	}
	if _, err := r.c.Status(ctx); !errors.Is(err, scanner.ErrUnplugged) {
		t.Errorf("Status after unplug: %v, want ErrUnplugged", err)
	}
}

// TestUnplugWhileWaiting pulls the cable while the device prepares a page.
func TestUnplugWhileWaiting(t *testing.T) {
	r := newRig(t, sim.Options{Sheets: 1, Resolution: 150, PageDelay: 20 * time.Second}, 2)
	ctx := ctxT(t, 2*time.Minute)
	j, err := r.c.Scan(ctx, scanner.Settings{Resolution: 150})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	time.AfterFunc(300*time.Millisecond, func() { r.host.Unplug(r.dev) })
	start := time.Now()
	if _, err := j.Next(ctx); !errors.Is(err, scanner.ErrUnplugged) {
		t.Fatalf("Next: %v, want ErrUnplugged", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

// TestCancelWhileWaiting cancels a NextDocument the device is slow to
// answer on a one-interface device: the late answer is drained in the
// background, then the job is deleted on the device over the same
// interface, which must be back in step.
func TestCancelWhileWaiting(t *testing.T) {
	r := newRig(t, sim.Options{Sheets: 2, Resolution: 150, PageDelay: 700 * time.Millisecond}, 1)
	// Render ahead, so the late answer comes after the page delay and not
	// after however long a loaded machine takes to draw the page.
	if err := r.sim.Warm(sim.Settings{Source: "Feeder", Resolution: 150, ColorMode: "RGB24", Format: "image/jpeg"}); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, 2*time.Minute)
	j, err := r.c.Scan(ctx, scanner.Settings{Resolution: 150})
	if err != nil {
		t.Fatal(err)
	}
	nctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := j.Next(nctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next: %v, want deadline exceeded", err)
	}
	// Next waits for the device to accept the cancellation, which on one
	// interface comes after the late page; it must not wait much longer.
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancelled Next returned after %v", d)
	}
	_ = j.Close()
	if n := r.sim.Canceled(); n != 1 {
		t.Errorf("device saw %d cancellations, want 1", n)
	}
	// Both interfaces must come back in step: run several requests.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := r.c.Status(ctx)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("status after cancel: %v", err)
		}
	}
}

// TestConcurrentRequests spreads requests over both interfaces.
func TestConcurrentRequests(t *testing.T) {
	r := newRig(t, sim.Options{}, 2)
	ctx := ctxT(t, 2*time.Minute)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for range 20 {
		wg.Add(2)
		go func() { defer wg.Done(); _, err := r.c.Status(ctx); errs <- err }()
		go func() {
			defer wg.Done()
			c := escl.New(&http.Client{Transport: r.tr}, "http://localhost/eSCL")
			_, err := c.Capabilities(ctx)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// TestNoPipes refuses a device without interfaces.
func TestNoPipes(t *testing.T) {
	if _, err := ippusb.New(emptyDevice{}); !errors.Is(err, usb.ErrNotIPP) {
		t.Fatalf("New: %v, want ErrNotIPP", err)
	}
}

type emptyDevice struct{}

func (emptyDevice) Desc() usb.Desc    { return usb.Desc{} }
func (emptyDevice) Pipes() []usb.Pipe { return nil }
func (emptyDevice) Reset() error      { return nil }
func (emptyDevice) Close() error      { return nil }

package usbredir_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/drivers/scanner/escl"
	"github.com/einwurf/einwurf/drivers/scanner/ippusb"
	"github.com/einwurf/einwurf/drivers/scanner/sim"
	"github.com/einwurf/einwurf/drivers/usb"
	"github.com/einwurf/einwurf/vm/usbredir"
	"github.com/einwurf/einwurf/vm/usbredir/ippscanner"
	"github.com/einwurf/einwurf/vm/usbredir/usbredirtest"
)

var quiet = slog.New(slog.DiscardHandler)

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// serve runs Serve for dev on one end of a loopback TCP connection and
// dials a guest double on the other. Cleanup stops Serve and expects no
// error from it.
func serve(t *testing.T, dev *usbredir.Device) *usbredirtest.Guest {
	t.Helper()
	g, stop := serveStop(t, dev)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
		_ = g.Close()
	})
	return g
}

// serveStop is serve, with the stop left to the caller: it ends Serve's
// context and returns what Serve returned.
func serveStop(t testing.TB, dev *usbredir.Device) (*usbredirtest.Guest, func() error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- err
			return
		}
		done <- usbredir.Serve(ctx, c, dev, quiet)
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	g, err := usbredirtest.Dial(ctxT(t, 10*time.Second), c, usbredirtest.GuestCaps)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	return g, func() error {
		cancel()
		return <-done
	}
}

// simScanner starts the eSCL simulator with n sheets and records the sha256
// of every page body it serves.
func simScanner(t *testing.T, sheets int) (*sim.Server, http.Handler, *ippscanner.Pages) {
	t.Helper()
	s, err := sim.Start(sim.Options{Sheets: sheets, Resolution: 150, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	pg := &ippscanner.Pages{}
	return s, pg.Wrap(s.Handler()), pg
}

// TestDescriptorsAndInfo: what the guest's kernel enumerates: a device
// descriptor with the scanner's identity, a configuration whose interfaces
// are 7/1/4 with one bulk OUT and IN each, strings, and the ep_info and
// interface_info QEMU routes transfers by.
func TestDescriptorsAndInfo(t *testing.T) {
	_, h, _ := simScanner(t, 0)
	g := serve(t, ippscanner.New(h, 2, "SIM-1", quiet))
	ctx := ctxT(t, 10*time.Second)
	if c := g.Connect(); c.Speed != usbredir.SpeedHigh || c.Vendor != ippscanner.Vendor || c.Product != ippscanner.Product || c.Version != 0x0100 {
		t.Fatalf("device_connect %+v", c)
	}
	dd, st, err := g.Control(ctx, 0x80, 6, 0x0100, 0, nil)
	if err != nil || st != 0 || len(dd) != 18 || dd[0] != 18 || dd[1] != 1 || binary.LittleEndian.Uint16(dd[8:]) != ippscanner.Vendor {
		t.Fatalf("device descriptor % x, status %d, %v", dd, st, err)
	}
	cd, _, err := g.Control(ctx, 0x80, 6, 0x0200, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	its, err := usbredirtest.ParseConfig(cd)
	if err != nil {
		t.Fatal(err)
	}
	want := []usb.Interface{
		{Config: 1, Number: 0, Class: 7, SubClass: 1, Protocol: 4, In: 1, Out: 1},
		{Config: 1, Number: 1, Class: 7, SubClass: 1, Protocol: 4, In: 2, Out: 2},
	}
	if len(its) != 2 || its[0] != want[0] || its[1] != want[1] {
		t.Fatalf("interfaces %+v, want %+v", its, want)
	}
	if d := (usb.Desc{Interfaces: its}); len(d.Find(usb.IPPOverUSB)) != 2 {
		t.Fatalf("drivers/usb finds %d IPP interfaces", len(d.Find(usb.IPPOverUSB)))
	}
	s, _, _ := g.Control(ctx, 0x80, 6, 0x0302, 0x0409, nil)
	if len(s) < 2 || s[1] != 3 || !bytes.Contains(s, []byte{'S', 0, 'i', 0, 'm', 0}) {
		t.Fatalf("product string % x", s)
	}
	if _, st, _ := g.Control(ctx, 0x80, 6, 0x0600, 0, nil); st != usbredir.StatusStall {
		t.Fatalf("device qualifier: status %d, want a stall", st)
	}
	id, st, _ := g.Control(ctx, 0xa1, 0, 0, 0, nil)
	if st != 0 || len(id) < 2 || int(binary.BigEndian.Uint16(id)) != len(id) || !bytes.Contains(id, []byte("CMD:ESCL")) {
		t.Fatalf("GET_DEVICE_ID %q, status %d", id, st)
	}
	if st, err := g.SetConfiguration(ctx, 1); err != nil || st != 0 {
		t.Fatalf("set configuration: %d %v", st, err)
	}
	ii, ep := g.Info()
	if ii.Count != 2 || ii.Class[1] != 7 || ii.Protocol[1] != 4 {
		t.Fatalf("interface_info %+v", ii)
	}
	for _, e := range []uint8{0x01, 0x81, 0x02, 0x82} {
		if x := usbredir.EPIndex(e); ep.Type[x] != usbredir.EPBulk || ep.MaxPacketSize[x] != 512 {
			t.Fatalf("ep_info of %#02x: type %d, size %d", e, ep.Type[x], ep.MaxPacketSize[x])
		}
	}
	if st, _ := g.SetConfiguration(ctx, 7); st != usbredir.StatusStall {
		t.Fatalf("configuration 7: status %d, want a stall", st)
	}
}

// TestScanThroughRedirection runs the kiosk's own IPP-USB transport and
// eSCL client over the guest double: capabilities, then one page, whose
// bytes are those the simulator served.
func TestScanThroughRedirection(t *testing.T) {
	s, h, pg := simScanner(t, 1)
	g := serve(t, ippscanner.New(h, 2, "SIM-1", quiet))
	ctx := ctxT(t, 60*time.Second)
	dev, err := g.Device(ctx, usb.IPPOverUSB)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := ippusb.New(dev, ippusb.WithTransferTimeout(100*time.Millisecond), ippusb.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	c := escl.New(&http.Client{Transport: tr}, ippusb.BaseURL)
	caps, err := c.Capabilities(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if caps.MakeAndModel != s.Profile().MakeAndModel && caps.MakeAndModel == "" {
		t.Fatalf("capabilities without make and model: %+v", caps)
	}
	got := scanOne(t, ctx, c)
	if want := pg.Sums(); len(want) != 1 || want[0] != got {
		t.Fatalf("page %x arrived, the simulator served %x", got, want)
	}
	if s.PagesServed() != 1 {
		t.Fatalf("simulator served %d pages", s.PagesServed())
	}
}

func scanOne(t *testing.T, ctx context.Context, c *escl.Client) [32]byte {
	t.Helper()
	j, err := c.Scan(ctx, scanner.Settings{Resolution: 150})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	p, err := j.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.New()
	n, err := io.Copy(sum, p.Body)
	_ = p.Body.Close()
	if err != nil || n < 1000 {
		t.Fatalf("page: %d bytes, %v", n, err)
	}
	return [32]byte(sum.Sum(nil))
}

// TestCancelledReadLosesNothing: a bulk IN that times out with nothing to
// read is answered as cancelled, and the data that comes later goes to the
// next read whole.
func TestCancelledReadLosesNothing(t *testing.T) {
	gate := make(chan struct{})
	dev := &usbredir.Device{Vendor: 1, Product: 2, Interfaces: []usbredir.Interface{{Class: 0xff, Open: func() (io.ReadWriteCloser, error) {
		a, b := net.Pipe()
		go func() {
			<-gate
			_, _ = b.Write([]byte("late answer"))
		}()
		return a, nil
	}}}}
	g := serve(t, dev)
	ctx := ctxT(t, 10*time.Second)
	if st, err := g.SetConfiguration(ctx, 1); err != nil || st != 0 {
		t.Fatal(st, err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	data, st, err := g.BulkIn(short, 1, 512)
	cancel()
	if err != nil || st != usbredir.StatusCancelled || len(data) != 0 {
		t.Fatalf("timed-out read: %q status %d %v, want cancelled", data, st, err)
	}
	close(gate)
	data, st, err = g.BulkIn(ctx, 1, 512)
	if err != nil || st != 0 || string(data) != "late answer" {
		t.Fatalf("next read %q status %d %v", data, st, err)
	}
	if _, st, _ := g.BulkIn(ctx, 5, 512); st != usbredir.StatusStall {
		t.Fatalf("read of a missing endpoint: status %d, want a stall", st)
	}
}

// TestDisconnectOnStop: ending Serve's context disconnects the device.
func TestDisconnectOnStop(t *testing.T) {
	_, h, _ := simScanner(t, 0)
	g, stop := serveStop(t, ippscanner.New(h, 2, "S", quiet))
	if err := stop(); err != nil {
		t.Fatalf("Serve after stop: %v", err)
	}
	select {
	case <-time.After(10 * time.Second):
		t.Fatal("guest still connected 10 s after the stop")
	case <-g.Done():
	}
	if !errors.Is(g.Err(), usbredirtest.ErrDisconnected) {
		t.Fatalf("guest after stop: %v", g.Err())
	}
	_ = g.Close()
}

// Package usbtest is a fake of package usb for tests without hardware: a
// Host whose devices are plugged in and pulled out by the test, and an
// IPP-over-USB Device whose bulk pairs carry the bytes of an HTTP server's
// connections, so anything that speaks HTTP (the eSCL simulator) can stand
// behind it.
package usbtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/einwurf/einwurf/drivers/usb"
)

// Host is a fake usb.Host.
type Host struct {
	mu     sync.Mutex
	devs   []*Device
	nextAd int
}

var _ usb.Host = (*Host)(nil)

// NewHost returns a host with nothing plugged in.
func NewHost() *Host { return &Host{nextAd: 1} }

// Plug plugs d in; it gets a new address, as a real re-plug does.
func (h *Host) Plug(d *Device) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nextAd++
	d.mu.Lock()
	d.desc.Address = h.nextAd
	d.gone = make(chan struct{})
	d.mu.Unlock()
	h.devs = append(h.devs, d)
}

// Unplug pulls d out: it leaves the bus and every transfer on it fails
// with usb.ErrUnplugged.
func (h *Host) Unplug(d *Device) {
	h.mu.Lock()
	h.devs = slices.DeleteFunc(h.devs, func(x *Device) bool { return x == d })
	h.mu.Unlock()
	d.Unplug()
}

// List implements usb.Host.
func (h *Host) List(ctx context.Context) ([]usb.Desc, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	out := []usb.Desc{}
	for _, d := range h.devs {
		out = append(out, d.Desc())
	}
	return out, nil
}

// Open implements usb.Host.
func (h *Host) Open(ctx context.Context, want usb.Desc) (usb.Device, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, d := range h.devs {
		if d.Desc().Socket() == want.Socket() {
			if !d.Desc().IsIPP() {
				return nil, usb.ErrNotIPP
			}
			return d, nil
		}
	}
	return nil, fmt.Errorf("usbtest: %w", usb.ErrNotFound)
}

// Device is a fake IPP-over-USB device.
type Device struct {
	srv   *http.Server
	ln    net.Listener
	pipes []*pipe

	mu      sync.Mutex
	desc    usb.Desc
	gone    chan struct{}
	resets  int
	maxRead int
}

var _ usb.Device = (*Device)(nil)

// NewDevice starts a device with n IPP interfaces (at least 1) whose bytes
// go to and come from h, served by a real http.Server on loopback; a
// connection the server closes is replaced on the next write, as a USB
// interface has no connections. maxPacket caps how much one read returns
// (0 = 512, a high-speed bulk packet).
func NewDevice(h http.Handler, n, maxPacket int) (*Device, error) {
	if n < 1 {
		return nil, errors.New("usbtest: need at least one interface")
	}
	if maxPacket <= 0 {
		maxPacket = 512
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("usbtest: %w", err)
	}
	d := &Device{
		srv:  &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second},
		ln:   ln,
		gone: make(chan struct{}),
		desc: usb.Desc{Bus: 1, Address: 1, Path: []int{1}, Vendor: 0x1d6b, Product: 0x0104},
	}
	for i := range n {
		it := usb.Interface{Config: 1, Number: i, In: i + 1, Out: i + 1}
		d.desc.IPP = append(d.desc.IPP, it)
		d.pipes = append(d.pipes, &pipe{d: d, it: it, packet: maxPacket})
	}
	go func() { _ = d.srv.Serve(ln) }()
	return d, nil
}

// Desc implements usb.Device.
func (d *Device) Desc() usb.Desc {
	d.mu.Lock()
	defer d.mu.Unlock()
	x := d.desc
	x.Path = slices.Clone(x.Path)
	x.IPP = slices.Clone(x.IPP)
	return x
}

// Pipes implements usb.Device.
func (d *Device) Pipes() []usb.Pipe {
	out := make([]usb.Pipe, len(d.pipes))
	for i, p := range d.pipes {
		out[i] = p
	}
	return out
}

// Reset implements usb.Device: it drops what the interfaces were in the
// middle of.
func (d *Device) Reset() error {
	if d.unplugged() {
		return usb.ErrUnplugged
	}
	d.mu.Lock()
	d.resets++
	d.mu.Unlock()
	for _, p := range d.pipes {
		p.drop()
	}
	return nil
}

// Resets counts Reset calls.
func (d *Device) Resets() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.resets
}

// MaxRead is the largest buffer a read was asked to fill.
func (d *Device) MaxRead() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.maxRead
}

// Close implements usb.Device. The device stays plugged in.
func (d *Device) Close() error {
	for _, p := range d.pipes {
		p.drop()
	}
	return nil
}

// Unplug makes every pending and later transfer fail with
// usb.ErrUnplugged.
func (d *Device) Unplug() {
	d.mu.Lock()
	select {
	case <-d.gone:
	default:
		close(d.gone)
	}
	d.mu.Unlock()
	for _, p := range d.pipes {
		p.drop()
	}
}

// Shutdown stops the device's HTTP server.
func (d *Device) Shutdown() error {
	d.Unplug()
	return d.srv.Close()
}

func (d *Device) unplugged() bool {
	d.mu.Lock()
	g := d.gone
	d.mu.Unlock()
	select {
	case <-g:
		return true
	default:
		return false
	}
}

// pipe is one fake interface: a TCP connection to the device's server.
type pipe struct {
	d      *Device
	it     usb.Interface
	packet int
	mu     sync.Mutex
	conn   net.Conn
}

// Interface implements usb.Pipe.
func (p *pipe) Interface() usb.Interface { return p.it }

// ClearHalt implements usb.Pipe; the fake never stalls.
func (p *pipe) ClearHalt() error {
	if p.d.unplugged() {
		return usb.ErrUnplugged
	}
	return nil
}

func (p *pipe) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn != nil {
		_ = p.conn.Close()
		p.conn = nil
	}
}

func (p *pipe) get(dial bool) (net.Conn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil && dial {
		c, err := net.Dial("tcp", p.d.ln.Addr().String())
		if err != nil {
			return nil, fmt.Errorf("usbtest: %w", err)
		}
		p.conn = c
	}
	return p.conn, nil
}

// xfer runs one transfer with ctx's deadline and cancellation.
func (p *pipe) xfer(ctx context.Context, b []byte, read bool) (int, error) {
	if p.d.unplugged() {
		return 0, usb.ErrUnplugged
	}
	if err := ctx.Err(); err != nil {
		return 0, mapCtx(err)
	}
	c, err := p.get(!read)
	if err != nil {
		return 0, err
	}
	if c == nil {
		// Nothing was ever sent on this interface: a read just times out.
		<-ctx.Done()
		if p.d.unplugged() {
			return 0, usb.ErrUnplugged
		}
		return 0, mapCtx(ctx.Err())
	}
	dl, _ := ctx.Deadline()
	_ = c.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	var n int
	if read {
		p.d.mu.Lock()
		p.d.maxRead = max(p.d.maxRead, len(b))
		p.d.mu.Unlock()
		n, err = c.Read(b[:min(len(b), p.packet)])
	} else {
		n, err = c.Write(b)
	}
	switch {
	case err == nil:
		return n, nil
	case p.d.unplugged():
		return n, usb.ErrUnplugged
	case ctx.Err() != nil:
		return n, mapCtx(ctx.Err())
	case errors.Is(err, os.ErrDeadlineExceeded):
		return n, usb.ErrTimeout
	case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed):
		// The server closed its connection; the interface itself lives on
		// and simply has nothing more to say.
		p.drop()
		if n > 0 {
			return n, nil
		}
		return 0, usb.ErrTimeout
	}
	return n, fmt.Errorf("usbtest: %w", err)
}

func mapCtx(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return usb.ErrTimeout
	}
	return err
}

// ReadContext implements usb.Pipe.
func (p *pipe) ReadContext(ctx context.Context, b []byte) (int, error) {
	return p.xfer(ctx, b, true)
}

// WriteContext implements usb.Pipe.
func (p *pipe) WriteContext(ctx context.Context, b []byte) (int, error) {
	return p.xfer(ctx, b, false)
}

// Package usbtest is a fake of package usb for tests without hardware: a
// Host whose devices are plugged in and pulled out by the test; an
// IPP-over-USB Device whose bulk pairs carry the bytes of an HTTP server's
// connections, so anything that speaks HTTP (the eSCL simulator) can stand
// behind it; and a Device of any interfaces whose bulk and control
// transfers go to a Func the test provides (a simulated printer, say).
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
	d, err := h.find(ctx, want)
	if err != nil {
		return nil, err
	}
	if !d.Desc().IsIPP() {
		return nil, usb.ErrNotIPP
	}
	return d.claim(usb.IPPOverUSB), nil
}

// Claim implements usb.Host.
func (h *Host) Claim(ctx context.Context, want usb.Desc, m usb.Match) (usb.Handle, error) {
	d, err := h.find(ctx, want)
	if err != nil {
		return nil, err
	}
	if !d.Desc().Has(m) {
		return nil, fmt.Errorf("usbtest: %w", usb.ErrNoInterface)
	}
	return d.claim(m), nil
}

// find returns the device plugged into want's socket.
func (h *Host) find(ctx context.Context, want usb.Desc) (*Device, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, d := range h.devs {
		if d.Desc().Socket() == want.Socket() {
			return d, nil
		}
	}
	return nil, fmt.Errorf("usbtest: %w", usb.ErrNotFound)
}

// Func is the device end of a Device made by NewFuncDevice. Its methods
// may be called concurrently.
type Func interface {
	// Out takes what the host sent to interface iface's bulk OUT endpoint.
	Out(ctx context.Context, iface int, p []byte) (int, error)
	// In fills p from interface iface's bulk IN endpoint. (0, nil) means
	// the device has nothing to send: the read waits, as a real one
	// does, until it has or ctx is done (usb.ErrTimeout).
	In(ctx context.Context, iface int, p []byte) (int, error)
	// Control answers a control transfer.
	Control(ctx context.Context, rType, request uint8, value, index uint16, data []byte) (int, error)
}

// NewFuncDevice returns a device with the given interfaces whose transfers
// go to f. Interfaces with the same number are alternate settings of one
// interface; list them in interface and alternate-setting order.
func NewFuncDevice(f Func, ifaces ...usb.Interface) *Device {
	d := &Device{fn: f, gone: make(chan struct{}),
		desc: usb.Desc{Bus: 1, Address: 1, Path: []int{2}, Vendor: 0x1d6b, Product: 0x0105}}
	d.desc.Interfaces = slices.Clone(ifaces)
	d.desc.IPP = d.desc.Find(usb.IPPOverUSB)
	for _, it := range ifaces {
		d.pipes = append(d.pipes, &pipe{d: d, it: it, packet: 512})
	}
	return d
}

// SetSocket moves the device to another bus and port path, so several can
// be plugged in at once.
func (d *Device) SetSocket(bus int, path ...int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.desc.Bus, d.desc.Path = bus, slices.Clone(path)
}

// claim returns the device with only the interfaces m matches as pipes.
func (d *Device) claim(m usb.Match) *claimed {
	want := d.Desc().Find(m)
	c := &claimed{Device: d}
	for _, p := range d.pipes {
		if slices.Contains(want, p.it) {
			c.pipes = append(c.pipes, p)
		}
	}
	return c
}

// claimed is a Device as one driver claimed it.
type claimed struct {
	*Device
	pipes []usb.Pipe
}

// Pipes implements usb.Device.
func (c *claimed) Pipes() []usb.Pipe { return slices.Clone(c.pipes) }

// Control implements usb.Handle: the request goes to the device's Func; a
// device without one (the HTTP kind) stalls it.
func (d *Device) Control(ctx context.Context, rType, request uint8, value, index uint16, data []byte) (int, error) {
	if d.unplugged() {
		return 0, usb.ErrUnplugged
	}
	if err := ctx.Err(); err != nil {
		return 0, mapCtx(err)
	}
	d.mu.Lock()
	d.controls++
	d.mu.Unlock()
	if d.fn == nil {
		return 0, usb.ErrStall
	}
	return d.fn.Control(ctx, rType, request, value, index, data)
}

// Controls counts control transfers.
func (d *Device) Controls() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.controls
}

// Device is a fake device: IPP over USB in front of an HTTP server
// (NewDevice) or any interfaces in front of a Func (NewFuncDevice).
type Device struct {
	srv   *http.Server
	ln    net.Listener
	fn    Func
	pipes []*pipe

	mu       sync.Mutex
	desc     usb.Desc
	gone     chan struct{}
	resets   int
	controls int
	maxRead  int
}

var _ usb.Handle = (*Device)(nil)

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
		it := usb.Interface{Config: 1, Number: i, In: i + 1, Out: i + 1,
			Class: usb.ClassPrinter, SubClass: usb.SubclassPrinter, Protocol: usb.ProtocolIPPOverU}
		d.desc.IPP = append(d.desc.IPP, it)
		d.desc.Interfaces = append(d.desc.Interfaces, it)
		d.pipes = append(d.pipes, &pipe{d: d, it: it, packet: maxPacket})
	}
	go func() { _ = d.srv.Serve(ln) }()
	return d, nil
}

// SetRelease sets the release number (bcdDevice) the device reports, as
// its firmware would: 0x0123 is release 1.23.
func (d *Device) SetRelease(bcd uint16) {
	d.mu.Lock()
	d.desc.Release = bcd
	d.mu.Unlock()
}

// Desc implements usb.Device.
func (d *Device) Desc() usb.Desc {
	d.mu.Lock()
	defer d.mu.Unlock()
	x := d.desc
	x.Path = slices.Clone(x.Path)
	x.IPP = slices.Clone(x.IPP)
	x.Interfaces = slices.Clone(x.Interfaces)
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
	if d.srv == nil {
		return nil
	}
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
	if p.d.fn != nil {
		return p.fnXfer(ctx, b, read)
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

// fnXfer runs one transfer against the device's Func.
func (p *pipe) fnXfer(ctx context.Context, b []byte, read bool) (int, error) {
	if !read {
		if p.it.Out == 0 {
			return 0, usb.ErrNoEndpoint
		}
		return p.d.fn.Out(ctx, p.it.Number, b)
	}
	if p.it.In == 0 {
		return 0, usb.ErrNoEndpoint
	}
	p.d.mu.Lock()
	p.d.maxRead = max(p.d.maxRead, len(b))
	p.d.mu.Unlock()
	b = b[:min(len(b), p.packet)]
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for {
		n, err := p.d.fn.In(ctx, p.it.Number, b)
		if n > 0 || err != nil {
			return n, err
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			if p.d.unplugged() {
				return 0, usb.ErrUnplugged
			}
			return 0, mapCtx(ctx.Err())
		case <-p.d.goneCh():
			return 0, usb.ErrUnplugged
		}
	}
}

func (d *Device) goneCh() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.gone
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

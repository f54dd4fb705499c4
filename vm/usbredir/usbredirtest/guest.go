// Package usbredirtest is a double of usbredir's usb-guest side (the part
// QEMU's usb-redir plays): it takes the device a usbredir host offers and
// makes control and bulk transfers to it, and Device makes that a
// drivers/usb Device, so the kiosk's own IPP-USB transport runs against a
// usbredir host in a unit test.
package usbredirtest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/einwurf/einwurf/drivers/usb"
	"github.com/einwurf/einwurf/vm/usbredir"
)

// GuestCaps are what QEMU's usb-redir offers (bulk receiving and streams
// aside).
const GuestCaps = 1<<usbredir.CapConnectDeviceVersion | 1<<usbredir.CapFilter | 1<<usbredir.CapDeviceDisconnectAck |
	1<<usbredir.CapEPInfoMaxPacketSize | 1<<usbredir.Cap64BitIDs | 1<<usbredir.Cap32BitBulkLength

// ErrDisconnected means the host disconnected the device or the connection
// ended.
var ErrDisconnected = errors.New("usbredirtest: device disconnected")

// Guest is a connected usb-guest.
type Guest struct {
	c      *usbredir.Conn
	rw     io.ReadWriteCloser
	nextID atomic.Uint64

	mu        sync.Mutex
	pending   map[uint64]chan usbredir.Packet
	connect   *usbredir.DeviceConnect
	ifaces    usbredir.InterfaceInfo
	eps       usbredir.EPInfo
	err       error
	connected chan struct{}
	done      chan struct{}
}

// Dial exchanges hellos over rw with caps and waits until the host has
// connected its device.
func Dial(ctx context.Context, rw io.ReadWriteCloser, caps uint32) (*Guest, error) {
	g := &Guest{c: usbredir.NewConn(rw, usbredir.Guest, caps), rw: rw, pending: map[uint64]chan usbredir.Packet{},
		connected: make(chan struct{}), done: make(chan struct{})}
	if err := g.c.Hello(); err != nil {
		return nil, err
	}
	go g.read()
	select {
	case <-g.connected:
		return g, nil
	case <-g.done:
		return nil, g.err
	case <-ctx.Done():
		_ = rw.Close()
		return nil, ctx.Err()
	}
}

// Close ends the connection.
func (g *Guest) Close() error {
	err := g.rw.Close()
	<-g.done
	return err
}

// Done is closed when the connection has ended.
func (g *Guest) Done() <-chan struct{} { return g.done }

// Err is why the connection ended (nil while it lasts).
func (g *Guest) Err() error {
	select {
	case <-g.done:
		return g.err
	default:
		return nil
	}
}

func (g *Guest) read() {
	defer close(g.done)
	for {
		p, err := g.c.ReadPacket()
		if err != nil {
			g.err = fmt.Errorf("%w: %w", ErrDisconnected, err)
			return
		}
		g.mu.Lock()
		switch p.Type {
		case usbredir.TypeDeviceConnect:
			d := usbredir.DecodeDeviceConnect(p.Header)
			g.connect = &d
			close(g.connected)
		case usbredir.TypeDeviceDisconnect:
			g.mu.Unlock()
			g.err = ErrDisconnected
			return
		case usbredir.TypeInterfaceInfo:
			g.ifaces = usbredir.DecodeInterfaceInfo(p.Header)
		case usbredir.TypeEPInfo:
			g.eps = usbredir.DecodeEPInfo(p.Header)
		default:
			if ch, ok := g.pending[p.ID]; ok {
				delete(g.pending, p.ID)
				ch <- p
			}
		}
		g.mu.Unlock()
	}
}

// Connect is the host's device_connect.
func (g *Guest) Connect() usbredir.DeviceConnect {
	g.mu.Lock()
	defer g.mu.Unlock()
	return *g.connect
}

// Info is the latest interface_info and ep_info.
func (g *Guest) Info() (usbredir.InterfaceInfo, usbredir.EPInfo) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ifaces, g.eps
}

// call sends a packet with a fresh id and waits for its answer. When ctx
// ends first it sends cancel_data_packet (cancel true) and still waits for
// the answer, which may carry data after all.
func (g *Guest) call(ctx context.Context, t uint32, header, data []byte, cancel bool) (usbredir.Packet, error) {
	id := g.nextID.Add(1)
	ch := make(chan usbredir.Packet, 1)
	g.mu.Lock()
	g.pending[id] = ch
	g.mu.Unlock()
	if err := g.c.WritePacket(t, id, header, data); err != nil {
		return usbredir.Packet{}, err
	}
	select {
	case p := <-ch:
		return p, nil
	case <-g.done:
		return usbredir.Packet{}, g.err
	case <-ctx.Done():
		if !cancel {
			return usbredir.Packet{}, ctx.Err()
		}
	}
	if err := g.c.WritePacket(usbredir.TypeCancelDataPacket, id, nil, nil); err != nil {
		return usbredir.Packet{}, err
	}
	select {
	case p := <-ch:
		return p, nil
	case <-g.done:
		return usbredir.Packet{}, g.err
	}
}

// Control makes a control transfer; IN (bit 7 of rType) returns the data.
func (g *Guest) Control(ctx context.Context, rType, request uint8, value, index uint16, data []byte) ([]byte, uint8, error) {
	cp := usbredir.Control{RequestType: rType, Request: request, Value: value, Index: index, Length: uint16(len(data))}
	if rType&0x80 != 0 {
		cp.Endpoint = 0x80
		data = nil
		cp.Length = 0xffff
	}
	p, err := g.call(ctx, usbredir.TypeControlPacket, cp.Encode(), data, true)
	if err != nil {
		return nil, 0, err
	}
	return p.Data, usbredir.DecodeControl(p.Header).Status, nil
}

// SetConfiguration selects configuration v.
func (g *Guest) SetConfiguration(ctx context.Context, v uint8) (uint8, error) {
	p, err := g.call(ctx, usbredir.TypeSetConfiguration, []byte{v}, nil, false)
	if err != nil {
		return 0, err
	}
	if p.Type != usbredir.TypeConfigurationStatus {
		return 0, fmt.Errorf("usbredirtest: answer of type %d to set_configuration", p.Type)
	}
	return p.Header[0], nil
}

// BulkIn asks endpoint ep (with the IN bit) for up to n bytes.
func (g *Guest) BulkIn(ctx context.Context, ep uint8, n int) ([]byte, uint8, error) {
	p, err := g.call(ctx, usbredir.TypeBulkPacket, g.c.EncodeBulk(usbredir.Bulk{Endpoint: ep | 0x80, Length: uint32(n)}), nil, true)
	if err != nil {
		return nil, 0, err
	}
	return p.Data, g.c.DecodeBulk(p.Header).Status, nil
}

// BulkOut writes data to endpoint ep.
func (g *Guest) BulkOut(ctx context.Context, ep uint8, data []byte) (int, uint8, error) {
	p, err := g.call(ctx, usbredir.TypeBulkPacket, g.c.EncodeBulk(usbredir.Bulk{Endpoint: ep &^ 0x80, Length: uint32(len(data))}), data, true)
	if err != nil {
		return 0, 0, err
	}
	b := g.c.DecodeBulk(p.Header)
	return int(b.Length), b.Status, nil
}

// Device is the guest's device as a drivers/usb Device: its descriptors
// read over control transfers, configuration 1 set, and every interface
// of the class m names as a Pipe.
func (g *Guest) Device(ctx context.Context, m usb.Match) (usb.Device, error) {
	dd, st, err := g.Control(ctx, 0x80, 6, 0x0100, 0, nil)
	if err != nil || st != usbredir.StatusSuccess || len(dd) < 18 {
		return nil, fmt.Errorf("usbredirtest: device descriptor: status %d, %d bytes: %v", st, len(dd), err)
	}
	cd, st, err := g.Control(ctx, 0x80, 6, 0x0200, 0, nil)
	if err != nil || st != usbredir.StatusSuccess {
		return nil, fmt.Errorf("usbredirtest: configuration descriptor: status %d: %v", st, err)
	}
	its, err := ParseConfig(cd)
	if err != nil {
		return nil, err
	}
	if st, err := g.SetConfiguration(ctx, uint8(its[0].Config)); err != nil || st != usbredir.StatusSuccess {
		return nil, fmt.Errorf("usbredirtest: set configuration: status %d: %v", st, err)
	}
	d := &device{g: g, desc: usb.Desc{Bus: 1, Address: 2, Path: []int{1},
		Vendor: binary.LittleEndian.Uint16(dd[8:]), Product: binary.LittleEndian.Uint16(dd[10:]), Interfaces: its}}
	d.desc.IPP = d.desc.Find(usb.IPPOverUSB)
	for _, it := range d.desc.Find(m) {
		d.pipes = append(d.pipes, &pipe{g: g, it: it})
	}
	if len(d.pipes) == 0 {
		return nil, fmt.Errorf("usbredirtest: %w", usb.ErrNoInterface)
	}
	return d, nil
}

// ParseConfig reads a configuration descriptor's interfaces and their
// first bulk endpoints, as drivers/usb describes them.
func ParseConfig(b []byte) ([]usb.Interface, error) {
	if len(b) < 9 || b[1] != 2 || int(binary.LittleEndian.Uint16(b[2:])) != len(b) {
		return nil, fmt.Errorf("usbredirtest: bad configuration descriptor (%d bytes)", len(b))
	}
	cfg := int(b[5])
	var out []usb.Interface
	for i := int(b[0]); i < len(b); {
		n := int(b[i])
		if n < 2 || i+n > len(b) {
			return nil, fmt.Errorf("usbredirtest: descriptor of length %d at %d", n, i)
		}
		d := b[i : i+n]
		switch {
		case d[1] == 4 && n >= 9:
			out = append(out, usb.Interface{Config: cfg, Number: int(d[2]), Alt: int(d[3]), Class: int(d[5]), SubClass: int(d[6]), Protocol: int(d[7])})
		case d[1] == 5 && n >= 7 && len(out) > 0 && d[3]&3 == 2:
			it := &out[len(out)-1]
			if d[2]&0x80 != 0 && it.In == 0 {
				it.In = int(d[2] & 0x0f)
			} else if d[2]&0x80 == 0 && it.Out == 0 {
				it.Out = int(d[2] & 0x0f)
			}
		}
		i += n
	}
	if len(out) == 0 {
		return nil, errors.New("usbredirtest: configuration without interfaces")
	}
	return out, nil
}

type device struct {
	g     *Guest
	desc  usb.Desc
	pipes []usb.Pipe
}

func (d *device) Desc() usb.Desc         { return d.desc }
func (d *device) Pipes() []usb.Pipe      { return slices.Clone(d.pipes) }
func (d *device) Reset() error           { return nil }
func (d *device) Close() error           { return nil }
func (p *pipe) Interface() usb.Interface { return p.it }
func (p *pipe) ClearHalt() error         { return nil }

type pipe struct {
	g  *Guest
	it usb.Interface
}

// ReadContext is one bulk IN transfer; a time-out cancels it, and data the
// host answered with anyway is returned (as libusb does).
func (p *pipe) ReadContext(ctx context.Context, b []byte) (int, error) {
	data, st, err := p.g.BulkIn(ctx, uint8(p.it.In), len(b))
	if err != nil {
		return 0, mapErr(err)
	}
	n := copy(b, data)
	switch {
	case st == usbredir.StatusSuccess:
		return n, nil
	case st == usbredir.StatusCancelled && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return n, usb.ErrTimeout
	case st == usbredir.StatusCancelled:
		return n, ctx.Err()
	case st == usbredir.StatusStall:
		return n, usb.ErrStall
	}
	return n, fmt.Errorf("usbredirtest: bulk in status %d", st)
}

// WriteContext is one bulk OUT transfer.
func (p *pipe) WriteContext(ctx context.Context, b []byte) (int, error) {
	n, st, err := p.g.BulkOut(ctx, uint8(p.it.Out), b)
	if err != nil {
		return 0, mapErr(err)
	}
	if st == usbredir.StatusCancelled {
		return n, usb.ErrTimeout
	}
	if st != usbredir.StatusSuccess {
		return n, fmt.Errorf("usbredirtest: bulk out status %d", st)
	}
	return n, nil
}

func mapErr(err error) error {
	if errors.Is(err, ErrDisconnected) {
		return fmt.Errorf("%w: %w", usb.ErrUnplugged, err)
	}
	return err
}

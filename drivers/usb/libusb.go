package usb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/gousb"
)

// ErrStall means an endpoint stalled; ClearHalt recovers it.
var ErrStall = errors.New("usb: endpoint stalled")

// LibUSB is the real Host, over libusb through gousb.
type LibUSB struct {
	ctx *gousb.Context
}

var (
	_ Host   = (*LibUSB)(nil)
	_ Handle = (*libDevice)(nil)
)

// OpenLibUSB initialises libusb. gousb panics when libusb cannot start
// (no usbfs, for one); that comes back here as an error.
func OpenLibUSB() (l *LibUSB, err error) {
	defer func() {
		if r := recover(); r != nil {
			l, err = nil, fmt.Errorf("usb: libusb init: %v", r)
		}
	}()
	return &LibUSB{ctx: gousb.NewContext()}, nil
}

// Close shuts libusb down.
func (l *LibUSB) Close() error {
	if err := l.ctx.Close(); err != nil {
		return fmt.Errorf("usb: close libusb: %w", err)
	}
	return nil
}

// List implements Host. It reads descriptors only and opens no device.
func (l *LibUSB) List(ctx context.Context) ([]Desc, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := []Desc{}
	devs, err := l.ctx.OpenDevices(func(d *gousb.DeviceDesc) bool {
		out = append(out, DescOf(d))
		return false
	})
	for _, d := range devs {
		_ = d.Close()
	}
	if err != nil {
		return out, fmt.Errorf("usb: list: %w", err)
	}
	return out, nil
}

// DescOf converts a gousb descriptor: every alternate setting of every
// interface with its class triple and first bulk endpoints, and among them
// the IPP-over-USB interfaces.
func DescOf(d *gousb.DeviceDesc) Desc {
	out := Desc{Bus: d.Bus, Address: d.Address, Path: slices.Clone(d.Path), Vendor: uint16(d.Vendor), Product: uint16(d.Product),
		Release: uint16(d.Device)}
	cfgs := make([]int, 0, len(d.Configs))
	for n := range d.Configs {
		cfgs = append(cfgs, n)
	}
	slices.Sort(cfgs)
	for _, n := range cfgs {
		var its []Interface
		for _, intf := range d.Configs[n].Interfaces {
			for _, alt := range intf.AltSettings {
				it := Interface{Config: n, Number: alt.Number, Alt: alt.Alternate,
					Class: int(alt.Class), SubClass: int(alt.SubClass), Protocol: int(alt.Protocol)}
				eps := make([]gousb.EndpointDesc, 0, len(alt.Endpoints))
				for _, ep := range alt.Endpoints {
					eps = append(eps, ep)
				}
				slices.SortFunc(eps, func(a, b gousb.EndpointDesc) int { return int(a.Address) - int(b.Address) })
				for _, ep := range eps {
					if ep.TransferType != gousb.TransferTypeBulk {
						continue
					}
					if ep.Direction == gousb.EndpointDirectionIn {
						if it.In == 0 {
							it.In = ep.Number
						}
					} else if it.Out == 0 {
						it.Out = ep.Number
					}
				}
				its = append(its, it)
			}
		}
		slices.SortStableFunc(its, func(a, b Interface) int {
			if a.Number != b.Number {
				return a.Number - b.Number
			}
			return a.Alt - b.Alt
		})
		out.Interfaces = append(out.Interfaces, its...)
	}
	out.IPP = out.Find(IPPOverUSB)
	return out
}

// Open implements Host: Claim with IPPOverUSB, and at least two
// interfaces.
func (l *LibUSB) Open(ctx context.Context, d Desc) (Device, error) {
	h, err := l.claim(ctx, d, IPPOverUSB, Desc.IsIPP)
	if errors.Is(err, ErrNoInterface) {
		return nil, fmt.Errorf("usb: open %s: %w", d.Socket(), ErrNotIPP)
	}
	if err != nil {
		return nil, err
	}
	return h, nil
}

// Claim implements Host: it opens the device now in d's socket, detaches
// kernel drivers and claims every interface m matches.
func (l *LibUSB) Claim(ctx context.Context, d Desc, m Match) (Handle, error) {
	return l.claim(ctx, d, m, func(d Desc) bool { return d.Has(m) })
}

func (l *LibUSB) claim(ctx context.Context, d Desc, m Match, ok func(Desc) bool) (Handle, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var found *Desc
	devs, err := l.ctx.OpenDevices(func(g *gousb.DeviceDesc) bool {
		if found != nil || g.Bus != d.Bus || !slices.Equal(g.Path, d.Path) || uint16(g.Vendor) != d.Vendor || uint16(g.Product) != d.Product {
			return false
		}
		x := DescOf(g)
		found = &x
		return true
	})
	if len(devs) == 0 {
		if err != nil {
			return nil, fmt.Errorf("usb: open %s: %w: %w", d.Socket(), ErrNotFound, err)
		}
		return nil, fmt.Errorf("usb: open %s: %w", d.Socket(), ErrNotFound)
	}
	for _, extra := range devs[1:] {
		_ = extra.Close()
	}
	dev := devs[0]
	if !ok(*found) {
		_ = dev.Close()
		return nil, fmt.Errorf("usb: open %s: %w", d.Socket(), ErrNoInterface)
	}
	ld := &libDevice{desc: *found, dev: dev, claimed: found.Find(m)}
	if err := ld.claim(); err != nil {
		_ = ld.Close()
		return nil, err
	}
	return ld, nil
}

// libDevice is an opened gousb device.
type libDevice struct {
	desc    Desc
	claimed []Interface
	dev     *gousb.Device
	mu      sync.Mutex
	cfg     *gousb.Config
	intfs   []*gousb.Interface
	pipes   []Pipe
}

func (d *libDevice) claim() error {
	if err := d.dev.SetAutoDetach(true); err != nil {
		return fmt.Errorf("usb: auto-detach: %w", mapErr(context.Background(), err))
	}
	cfg, err := d.dev.Config(d.claimed[0].Config)
	if err != nil {
		return fmt.Errorf("usb: set config: %w", mapErr(context.Background(), err))
	}
	d.cfg = cfg
	for _, it := range d.claimed {
		intf, err := cfg.Interface(it.Number, it.Alt)
		if err != nil {
			return fmt.Errorf("usb: claim interface %d: %w", it.Number, mapErr(context.Background(), err))
		}
		d.intfs = append(d.intfs, intf)
		p := &libPipe{it: it, dev: d.dev}
		if it.In != 0 {
			if p.in, err = intf.InEndpoint(it.In); err != nil {
				return fmt.Errorf("usb: interface %d in: %w", it.Number, err)
			}
		}
		if it.Out != 0 {
			if p.out, err = intf.OutEndpoint(it.Out); err != nil {
				return fmt.Errorf("usb: interface %d out: %w", it.Number, err)
			}
		}
		d.pipes = append(d.pipes, p)
	}
	return nil
}

// Desc implements Device.
func (d *libDevice) Desc() Desc { return d.desc }

// Pipes implements Device.
func (d *libDevice) Pipes() []Pipe { return slices.Clone(d.pipes) }

// Control implements Handle. gousb takes no context, so ctx's deadline
// becomes the transfer's time-out (5 s without one).
func (d *libDevice) Control(ctx context.Context, rType, request uint8, value, index uint16, data []byte) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dev == nil {
		return 0, ErrClosed
	}
	d.dev.ControlTimeout = 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		d.dev.ControlTimeout = max(time.Until(dl), time.Millisecond)
	}
	n, err := d.dev.Control(rType, request, value, index, data)
	return n, mapErr(ctx, err)
}

// Reset implements Device with a USB port reset.
func (d *libDevice) Reset() error {
	if err := d.dev.Reset(); err != nil {
		return fmt.Errorf("usb: reset: %w", mapErr(context.Background(), err))
	}
	return nil
}

// Close implements Device.
func (d *libDevice) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, i := range d.intfs {
		i.Close()
	}
	d.intfs = nil
	if d.cfg != nil {
		_ = d.cfg.Close()
		d.cfg = nil
	}
	if d.dev != nil {
		err := d.dev.Close()
		d.dev = nil
		if err != nil {
			return fmt.Errorf("usb: close: %w", err)
		}
	}
	return nil
}

// libPipe is a claimed interface's bulk pair.
type libPipe struct {
	it  Interface
	dev *gousb.Device
	in  *gousb.InEndpoint
	out *gousb.OutEndpoint
}

// Interface implements Pipe.
func (p *libPipe) Interface() Interface { return p.it }

// ReadContext implements Pipe.
func (p *libPipe) ReadContext(ctx context.Context, b []byte) (int, error) {
	if p.in == nil {
		return 0, ErrNoEndpoint
	}
	n, err := p.in.ReadContext(ctx, b)
	if n > 0 && err != nil && mapErr(ctx, err) == ErrTimeout {
		// A transfer cut short by the time-out still delivered data;
		// losing it would put the stream out of step.
		return n, nil
	}
	return n, mapErr(ctx, err)
}

// WriteContext implements Pipe.
func (p *libPipe) WriteContext(ctx context.Context, b []byte) (int, error) {
	if p.out == nil {
		return 0, ErrNoEndpoint
	}
	n, err := p.out.WriteContext(ctx, b)
	return n, mapErr(ctx, err)
}

// ClearHalt sends CLEAR_FEATURE(ENDPOINT_HALT) to both endpoints; gousb has
// no libusb_clear_halt.
func (p *libPipe) ClearHalt() error {
	for _, ep := range []int{p.it.In | 0x80, p.it.Out} {
		if ep&0x7f == 0 {
			continue // no such endpoint
		}
		if _, err := p.dev.Control(0x02, 0x01, 0, uint16(ep), nil); err != nil {
			return fmt.Errorf("usb: clear halt on endpoint %#x: %w", ep, mapErr(context.Background(), err))
		}
	}
	return nil
}

// mapErr gives libusb errors this package's meaning.
func mapErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, gousb.ErrorNoDevice), errors.Is(err, gousb.TransferNoDevice):
		return ErrUnplugged
	case errors.Is(err, gousb.ErrorTimeout), errors.Is(err, gousb.TransferTimedOut):
		return ErrTimeout
	case errors.Is(err, gousb.ErrorPipe), errors.Is(err, gousb.TransferStall):
		return ErrStall
	case errors.Is(err, gousb.TransferCancelled) && ctx.Err() != nil:
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return ErrTimeout
		}
		return ctx.Err()
	}
	return fmt.Errorf("usb: %w", err)
}

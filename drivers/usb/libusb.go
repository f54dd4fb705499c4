package usb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/google/gousb"
)

// ErrStall means an endpoint stalled; ClearHalt recovers it.
var ErrStall = errors.New("usb: endpoint stalled")

// LibUSB is the real Host, over libusb through gousb.
type LibUSB struct {
	ctx *gousb.Context
}

var _ Host = (*LibUSB)(nil)

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

// DescOf converts a gousb descriptor, collecting the IPP-over-USB
// interfaces of the first configuration that has any. Per interface the
// first alternate setting with class 7/1/4 and a bulk pair counts.
func DescOf(d *gousb.DeviceDesc) Desc {
	out := Desc{Bus: d.Bus, Address: d.Address, Path: slices.Clone(d.Path), Vendor: uint16(d.Vendor), Product: uint16(d.Product)}
	cfgs := make([]int, 0, len(d.Configs))
	for n := range d.Configs {
		cfgs = append(cfgs, n)
	}
	slices.Sort(cfgs)
	for _, n := range cfgs {
		for _, intf := range d.Configs[n].Interfaces {
			for _, alt := range intf.AltSettings {
				if alt.Class != gousb.ClassPrinter || alt.SubClass != SubclassPrinter || alt.Protocol != ProtocolIPPOverU {
					continue
				}
				in, outEP := -1, -1
				for _, ep := range alt.Endpoints {
					if ep.TransferType != gousb.TransferTypeBulk {
						continue
					}
					if ep.Direction == gousb.EndpointDirectionIn {
						if in < 0 {
							in = ep.Number
						}
					} else if outEP < 0 {
						outEP = ep.Number
					}
				}
				if in >= 0 && outEP >= 0 {
					out.IPP = append(out.IPP, Interface{Config: n, Number: alt.Number, Alt: alt.Alternate, In: in, Out: outEP})
					break
				}
			}
		}
		if len(out.IPP) > 0 {
			break
		}
	}
	slices.SortFunc(out.IPP, func(a, b Interface) int { return a.Number - b.Number })
	return out
}

// Open implements Host: it opens the device now in d's socket, detaches
// kernel drivers and claims every IPP-over-USB interface.
func (l *LibUSB) Open(ctx context.Context, d Desc) (Device, error) {
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
	if !found.IsIPP() {
		_ = dev.Close()
		return nil, fmt.Errorf("usb: open %s: %w", d.Socket(), ErrNotIPP)
	}
	ld := &libDevice{desc: *found, dev: dev}
	if err := ld.claim(); err != nil {
		_ = ld.Close()
		return nil, err
	}
	return ld, nil
}

// libDevice is an opened gousb device.
type libDevice struct {
	desc  Desc
	dev   *gousb.Device
	mu    sync.Mutex
	cfg   *gousb.Config
	intfs []*gousb.Interface
	pipes []Pipe
}

func (d *libDevice) claim() error {
	if err := d.dev.SetAutoDetach(true); err != nil {
		return fmt.Errorf("usb: auto-detach: %w", mapErr(context.Background(), err))
	}
	cfg, err := d.dev.Config(d.desc.IPP[0].Config)
	if err != nil {
		return fmt.Errorf("usb: set config: %w", mapErr(context.Background(), err))
	}
	d.cfg = cfg
	for _, it := range d.desc.IPP {
		intf, err := cfg.Interface(it.Number, it.Alt)
		if err != nil {
			return fmt.Errorf("usb: claim interface %d: %w", it.Number, mapErr(context.Background(), err))
		}
		d.intfs = append(d.intfs, intf)
		in, err := intf.InEndpoint(it.In)
		if err != nil {
			return fmt.Errorf("usb: interface %d in: %w", it.Number, err)
		}
		out, err := intf.OutEndpoint(it.Out)
		if err != nil {
			return fmt.Errorf("usb: interface %d out: %w", it.Number, err)
		}
		d.pipes = append(d.pipes, &libPipe{it: it, dev: d.dev, in: in, out: out})
	}
	return nil
}

// Desc implements Device.
func (d *libDevice) Desc() Desc { return d.desc }

// Pipes implements Device.
func (d *libDevice) Pipes() []Pipe { return slices.Clone(d.pipes) }

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
	n, err := p.out.WriteContext(ctx, b)
	return n, mapErr(ctx, err)
}

// ClearHalt sends CLEAR_FEATURE(ENDPOINT_HALT) to both endpoints; gousb has
// no libusb_clear_halt.
func (p *libPipe) ClearHalt() error {
	for _, ep := range []int{p.it.In | 0x80, p.it.Out} {
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

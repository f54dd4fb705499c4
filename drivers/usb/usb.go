// Package usb is the kiosk's only door to USB: it lists devices and their
// interfaces by class, subclass and protocol, claims the interfaces a
// driver asks for (detaching kernel drivers), moves data over their bulk
// endpoints with time-outs, makes control transfers, clears halts, resets
// devices and notices unplug and re-plug by polling. It knows no device
// kind: the drivers choose what they claim (IPP over USB 7/1/4 for
// scanners, the printer class 7/1/2 for receipt printers).
//
// The hardware is reached through the Host and Device interfaces; LibUSB is
// the real implementation over gousb, and usbtest holds a fake for tests.
package usb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// IPP-over-USB interface class, subclass and protocol (USB-IF "IPP USB").
const (
	ClassPrinter     = 7
	SubclassPrinter  = 1
	ProtocolIPPOverU = 4
	// ProtocolBidirectional is the printer class's bidirectional
	// protocol (USB Printing Devices 1.1): bulk OUT for print data, bulk IN
	// for the printer's answers.
	ProtocolBidirectional = 2
)

// Match names the interfaces a driver wants: class, subclass, protocol and
// which bulk endpoints they must have.
type Match struct {
	Class, SubClass, Protocol int
	// In and Out require a bulk IN or OUT endpoint.
	In, Out bool
}

// Interfaces drivers ask for.
var (
	// IPPOverUSB is an IPP-over-USB interface (7/1/4) with its bulk pair.
	IPPOverUSB = Match{Class: ClassPrinter, SubClass: SubclassPrinter, Protocol: ProtocolIPPOverU, In: true, Out: true}
	// PrinterBidirectional is a bidirectional printer interface (7/1/2).
	PrinterBidirectional = Match{Class: ClassPrinter, SubClass: SubclassPrinter, Protocol: ProtocolBidirectional, In: true, Out: true}
)

// Matches reports whether i is of m's kind and has its endpoints.
func (m Match) Matches(i Interface) bool {
	return i.Class == m.Class && i.SubClass == m.SubClass && i.Protocol == m.Protocol &&
		(!m.In || i.In != 0) && (!m.Out || i.Out != 0)
}

// Errors of this package. Implementations wrap them with %w.
var (
	// ErrUnplugged means the device is gone.
	ErrUnplugged = errors.New("usb: device unplugged")
	// ErrTimeout means a transfer did not complete in time; the pipe is
	// still usable.
	ErrTimeout = errors.New("usb: transfer timed out")
	// ErrNotFound means no device matched.
	ErrNotFound = errors.New("usb: device not found")
	// ErrNotIPP means the device has fewer than two IPP-over-USB
	// interfaces.
	ErrNotIPP = errors.New("usb: not an IPP-over-USB device")
	// ErrClosed means the device was closed.
	ErrClosed = errors.New("usb: device closed")
	// ErrNoInterface means the device has no interface of the kind asked
	// for.
	ErrNoInterface = errors.New("usb: no such interface")
	// ErrNoEndpoint means a transfer was asked of an endpoint the
	// interface does not have.
	ErrNoEndpoint = errors.New("usb: no such endpoint")
)

// Interface describes one interface (one alternate setting of it): its
// configuration, number, alternate setting, class triple and first bulk
// endpoints.
type Interface struct {
	Config, Number, Alt int // configuration value, interface number, alternate setting
	In, Out             int // bulk endpoint numbers (without the direction bit); 0: none
	// Class, SubClass and Protocol are the interface's class triple.
	Class, SubClass, Protocol int
}

// Desc describes a device as found on the bus, before it is opened.
type Desc struct {
	Bus     int // bus number
	Address int // address on the bus; changes on re-plug
	// Path is the chain of hub ports from the root; with Bus it names the
	// socket the device is plugged into, which stays the same on re-plug
	// while the address changes.
	Path    []int
	Vendor  uint16 // USB vendor ID
	Product uint16 // USB product ID
	// Release is the device's release number (bcdDevice), which vendors
	// raise with the firmware: 0x0123 is release 1.23. See ReleaseText.
	Release uint16
	// IPP lists the device's IPP-over-USB interfaces: Find(IPPOverUSB).
	IPP []Interface
	// Interfaces lists every alternate setting of every interface of
	// every configuration, in configuration and interface order.
	Interfaces []Interface
}

// ReleaseText is Release as a version, "1.23" for 0x0123 (binary-coded
// decimal, as USB defines bcdDevice); "" when the device reports 0.
func (d Desc) ReleaseText() string {
	if d.Release == 0 {
		return ""
	}
	r := d.Release
	major := int(r>>12&0xf)*10 + int(r>>8&0xf)
	return fmt.Sprintf("%d.%d%d", major, r>>4&0xf, r&0xf)
}

// Find returns the interfaces m matches: per interface number the first
// alternate setting that matches, within the first configuration that has
// any, in interface order.
func (d Desc) Find(m Match) []Interface {
	var out []Interface
	cfg := -1
	for _, it := range d.Interfaces {
		if !m.Matches(it) || cfg >= 0 && it.Config != cfg {
			continue
		}
		if n := len(out); n > 0 && out[n-1].Number == it.Number {
			continue
		}
		cfg = it.Config
		out = append(out, it)
	}
	slices.SortStableFunc(out, func(a, b Interface) int { return a.Number - b.Number })
	return out
}

// Has reports whether the device has an interface m matches.
func (d Desc) Has(m Match) bool { return len(d.Find(m)) > 0 }

// IsIPP reports whether the device can run IPP over USB: the
// specification asks for at least two interfaces, one of them kept free
// for the printer's own use.
func (d Desc) IsIPP() bool { return len(d.IPP) >= 2 }

// ID is "vvvv:pppp".
func (d Desc) ID() string { return fmt.Sprintf("%04x:%04x", d.Vendor, d.Product) }

// Socket names where the device is plugged in: bus, port path and ID. A
// re-plugged device keeps its socket but gets a new address.
func (d Desc) Socket() string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(d.Bus))
	b.WriteByte('-')
	for i, p := range d.Path {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.Itoa(p))
	}
	b.WriteByte('/')
	b.WriteString(d.ID())
	return b.String()
}

// Pipe is one claimed interface's bulk endpoint pair. Calls block until the
// transfer completes, ctx is done (ErrTimeout if it timed out, ctx.Err()
// if cancelled) or the device is gone (ErrUnplugged). A read returns what
// one bulk transfer delivered, so p should be a multiple of the endpoint's
// packet size.
type Pipe interface {
	ReadContext(ctx context.Context, p []byte) (int, error)
	WriteContext(ctx context.Context, p []byte) (int, error)
	// ClearHalt clears a stall on both endpoints.
	ClearHalt() error
	// Interface says which interface this is.
	Interface() Interface
}

// Device is an opened device with the interfaces a driver asked for
// claimed.
type Device interface {
	Desc() Desc
	// Pipes are the claimed interfaces, in interface order.
	Pipes() []Pipe
	// Reset resets the device; its pipes must be re-opened afterwards.
	Reset() error
	// Close releases the interfaces and the device.
	Close() error
}

// Host enumerates and opens devices.
type Host interface {
	// List lists the devices on the bus. No devices is not an error.
	List(ctx context.Context) ([]Desc, error)
	// Open opens the device in the socket d names and claims its IPP
	// interfaces: Claim with IPPOverUSB, failing with ErrNotIPP when there
	// are fewer than two.
	Open(ctx context.Context, d Desc) (Device, error)
	// Claim opens the device in the socket d names and claims the
	// interfaces m matches (ErrNoInterface if none).
	Claim(ctx context.Context, d Desc, m Match) (Handle, error)
}

// Handle is a claimed device that also takes control transfers.
type Handle interface {
	Device
	// Control makes a control transfer on endpoint 0: data is sent (OUT)
	// or filled (IN, bit 7 of rType) and the byte count returned.
	Control(ctx context.Context, rType, request uint8, value, index uint16, data []byte) (int, error)
}

// FindIPP returns the IPP-over-USB devices among ds.
func FindIPP(ds []Desc) []Desc {
	var out []Desc
	for _, d := range ds {
		if d.IsIPP() {
			out = append(out, d)
		}
	}
	return out
}

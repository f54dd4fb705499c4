// Package usb is the kiosk's only door to USB: it lists devices, finds the
// IPP-over-USB interfaces (class 7, subclass 1, protocol 4) of printers and
// scanners, claims them (detaching kernel drivers), moves data over their
// bulk endpoint pairs with time-outs, clears halts, resets devices and
// notices unplug and re-plug by polling.
//
// The hardware is reached through the Host and Device interfaces; LibUSB is
// the real implementation over gousb, and usbtest holds a fake for tests.
package usb

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// IPP-over-USB interface class, subclass and protocol (USB-IF "IPP USB").
const (
	ClassPrinter     = 7
	SubclassPrinter  = 1
	ProtocolIPPOverU = 4
)

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
)

// Interface describes one IPP-over-USB interface: its configuration,
// number, alternate setting and bulk endpoint addresses.
type Interface struct {
	Config, Number, Alt int // configuration value, interface number, alternate setting
	In, Out             int // endpoint numbers (without the direction bit)
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
	// IPP lists the device's IPP-over-USB interfaces.
	IPP []Interface
}

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

// Device is an opened device with its IPP-over-USB interfaces claimed.
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
	// interfaces.
	Open(ctx context.Context, d Desc) (Device, error)
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

package sim

import (
	"context"

	"github.com/einwurf/einwurf/drivers/printer/escpos"
	"github.com/einwurf/einwurf/drivers/usb"
	"github.com/einwurf/einwurf/drivers/usb/usbtest"
)

// Interface is the printer interface of a fake USB device built on a
// simulated printer: bidirectional printer class 7/1/2, bulk endpoints 1.
var Interface = usb.Interface{Config: 1, Number: 0, In: 1, Out: 1,
	Class: usb.ClassPrinter, SubClass: usb.SubclassPrinter, Protocol: usb.ProtocolBidirectional}

// NewUSBDevice returns a fake USB printer with p behind it, to plug into a
// usbtest.Host and drive with escpos.USB.
func NewUSBDevice(p *Printer) *usbtest.Device {
	return usbtest.NewFuncDevice(usbFunc{p}, Interface)
}

// usbFunc is p as the device end of a USB printer interface.
type usbFunc struct{ p *Printer }

func (f usbFunc) Out(_ context.Context, _ int, b []byte) (int, error) { return f.p.Write(b) }

func (f usbFunc) In(_ context.Context, _ int, b []byte) (int, error) { return f.p.Read(b) }

// Control answers GET_PORT_STATUS for the printer interface and stalls
// everything else, as a printer does with requests it does not know.
func (f usbFunc) Control(_ context.Context, rType, request uint8, _, index uint16, data []byte) (int, error) {
	if rType != escpos.ReqTypeClassIn || request != escpos.ReqGetPortStatus || int(index) != Interface.Number || len(data) < 1 {
		return 0, usb.ErrStall
	}
	data[0] = f.p.PortStatus()
	return 1, nil
}

package usb

import (
	"context"
	"errors"
	"testing"

	"github.com/google/gousb"
)

// TestLibUSBListEmpty runs the real libusb path. On the build machines there
// is no USB device (often no usbfs at all), so the list must be empty and
// without error; where libusb cannot start, the error must say so instead
// of a panic.
func TestLibUSBList(t *testing.T) {
	l, err := OpenLibUSB()
	if err != nil {
		t.Fatalf("OpenLibUSB: %v", err)
	}
	defer l.Close()
	ds, err := l.List(context.Background())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if ds == nil {
		t.Fatal("List returned nil, want an empty list")
	}
	for _, d := range ds {
		t.Logf("device %s socket %s ipp=%v", d.ID(), d.Socket(), d.IsIPP())
	}
	if ipp := FindIPP(ds); len(ipp) > 0 {
		t.Logf("%d IPP-over-USB devices present", len(ipp))
	}
}

func TestDescOf(t *testing.T) {
	bulk := func(n int, in bool) gousb.EndpointDesc {
		a := gousb.EndpointAddress(n)
		if in {
			a |= 0x80
		}
		return gousb.EndpointDesc{Address: a, Number: n, Direction: gousb.EndpointDirection(in), TransferType: gousb.TransferTypeBulk, MaxPacketSize: 512}
	}
	ipp := func(num, alt, in, out int) gousb.InterfaceSetting {
		return gousb.InterfaceSetting{Number: num, Alternate: alt, Class: gousb.ClassPrinter, SubClass: 1, Protocol: 4,
			Endpoints: map[gousb.EndpointAddress]gousb.EndpointDesc{bulk(in, true).Address: bulk(in, true), bulk(out, false).Address: bulk(out, false)}}
	}
	d := &gousb.DeviceDesc{Bus: 1, Address: 7, Path: []int{2, 3}, Vendor: 0x03f0, Product: 0x0c2a, Device: 0x0213,
		Configs: map[int]gousb.ConfigDesc{1: {Number: 1, Interfaces: []gousb.InterfaceDesc{
			// Legacy printer class 7/1/2 on interface 0: not IPP.
			{Number: 0, AltSettings: []gousb.InterfaceSetting{{Number: 0, Class: gousb.ClassPrinter, SubClass: 1, Protocol: 2,
				Endpoints: map[gousb.EndpointAddress]gousb.EndpointDesc{0x81: bulk(1, true), 0x01: bulk(1, false)}}}},
			// IPP on the alternate setting only.
			{Number: 1, AltSettings: []gousb.InterfaceSetting{
				{Number: 1, Alternate: 0, Class: gousb.ClassVendorSpec},
				ipp(1, 1, 2, 2)}},
			{Number: 3, AltSettings: []gousb.InterfaceSetting{ipp(3, 0, 4, 5)}},
			// 7/1/4 without a bulk pair is useless.
			{Number: 4, AltSettings: []gousb.InterfaceSetting{{Number: 4, Class: gousb.ClassPrinter, SubClass: 1, Protocol: 4,
				Endpoints: map[gousb.EndpointAddress]gousb.EndpointDesc{0x86: bulk(6, true)}}}},
		}}}}
	got := DescOf(d)
	if got.Release != 0x0213 || got.ReleaseText() != "2.13" {
		t.Errorf("release (bcdDevice) %#04x %q, want 0x0213 \"2.13\"", got.Release, got.ReleaseText())
	}
	c := func(it Interface) Interface {
		it.Class, it.SubClass, it.Protocol = ClassPrinter, SubclassPrinter, ProtocolIPPOverU
		return it
	}
	want := []Interface{c(Interface{Config: 1, Number: 1, Alt: 1, In: 2, Out: 2}), c(Interface{Config: 1, Number: 3, Alt: 0, In: 4, Out: 5})}
	if len(got.IPP) != len(want) {
		t.Fatalf("IPP interfaces = %+v, want %+v", got.IPP, want)
	}
	for i := range want {
		if got.IPP[i] != want[i] {
			t.Errorf("IPP[%d] = %+v, want %+v", i, got.IPP[i], want[i])
		}
	}
	if !got.IsIPP() {
		t.Error("two IPP interfaces: IsIPP = false")
	}
	// The legacy printer interface is there for a printer driver.
	pr := got.Find(PrinterBidirectional)
	if len(pr) != 1 || pr[0] != (Interface{Config: 1, Number: 0, In: 1, Out: 1, Class: 7, SubClass: 1, Protocol: 2}) {
		t.Errorf("Find(PrinterBidirectional) = %+v", pr)
	}
	if n := len(got.Interfaces); n != 5 {
		t.Errorf("%d interface settings listed, want 5: %+v", n, got.Interfaces)
	}
	// 7/1/4 without a bulk pair is listed but matches only without
	// endpoint requirements.
	if n := len(got.Find(Match{Class: 7, SubClass: 1, Protocol: 4})); n != 3 {
		t.Errorf("7/1/4 without endpoint requirements: %d interfaces, want 3", n)
	}
	if got.Socket() != "1-2.3/03f0:0c2a" {
		t.Errorf("Socket = %q", got.Socket())
	}
	one := got
	one.IPP = one.IPP[:1]
	if one.IsIPP() {
		t.Error("one IPP interface: IsIPP = true")
	}
	if n := len(FindIPP([]Desc{got, one})); n != 1 {
		t.Errorf("FindIPP found %d, want 1", n)
	}
}

func TestLibUSBOpenMissing(t *testing.T) {
	l, err := OpenLibUSB()
	if err != nil {
		t.Fatalf("OpenLibUSB: %v", err)
	}
	defer l.Close()
	// Bus 250 does not exist on any machine this runs on.
	_, err = l.Open(context.Background(), Desc{Bus: 250, Path: []int{9}, Vendor: 0xffff, Product: 0xffff})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open: %v, want ErrNotFound", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.List(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("List with cancelled context: %v", err)
	}
}

// bcdDevice is binary-coded decimal: 0xJJMN is release JJ.MN.
func TestReleaseText(t *testing.T) {
	for bcd, want := range map[uint16]string{0: "", 0x0100: "1.00", 0x0123: "1.23", 0x1005: "10.05", 0x9999: "99.99"} {
		if got := (Desc{Release: bcd}).ReleaseText(); got != want {
			t.Errorf("%#04x: %q, want %q", bcd, got, want)
		}
	}
}

package usbredir

import (
	"encoding/binary"
	"io"
	"unicode/utf16"
)

// Device is a USB device as the guest sees it: one configuration, its
// interfaces each with one bulk OUT and one bulk IN endpoint (interface i
// has endpoints i+1 and 0x80|i+1), high speed, 512-byte bulk packets.
type Device struct {
	Vendor, Product uint16
	// Release is bcdDevice.
	Release uint16
	// Manufacturer, Name and Serial are the string descriptors.
	Manufacturer, Name, Serial string
	// DeviceID is the IEEE 1284 device ID the printer class's
	// GET_DEVICE_ID answers ("" = stall).
	DeviceID   string
	Interfaces []Interface
}

// Interface is one interface of the device and what is behind its bulk
// pair.
type Interface struct {
	Class, SubClass, Protocol uint8
	// Extra are class-specific descriptors after the interface descriptor.
	Extra []byte
	// Open returns the function behind the bulk pair when the guest
	// connects: what the guest writes on bulk OUT is written to it, what
	// it yields is read by the guest on bulk IN. Close ends it.
	Open func() (io.ReadWriteCloser, error)
}

// Standard requests and descriptor types (USB 2.0, chapter 9).
const (
	reqGetStatus     = 0
	reqClearFeature  = 1
	reqSetFeature    = 3
	reqSetAddress    = 5
	reqGetDescriptor = 6
	reqGetConfig     = 8
	reqSetConfig     = 9
	reqGetInterface  = 10
	reqSetInterface  = 11

	descDevice    = 1
	descConfig    = 2
	descString    = 3
	descInterface = 4
	descEndpoint  = 5

	bulkPacketSize = 512
	ep0PacketSize  = 64
	configValue    = 1
)

// DeviceDescriptor is the 18-byte device descriptor.
func (d *Device) DeviceDescriptor() []byte {
	b := []byte{18, descDevice, 0x00, 0x02, 0, 0, 0, ep0PacketSize}
	b = binary.LittleEndian.AppendUint16(b, d.Vendor)
	b = binary.LittleEndian.AppendUint16(b, d.Product)
	b = binary.LittleEndian.AppendUint16(b, d.Release)
	return append(b, 1, 2, 3, 1) // strings 1-3, one configuration
}

// ConfigDescriptor is the whole configuration descriptor: configuration,
// interfaces (each with its extra descriptors) and endpoints.
func (d *Device) ConfigDescriptor() []byte {
	b := []byte{9, descConfig, 0, 0, byte(len(d.Interfaces)), configValue, 0, 0xc0, 1} // self-powered, 2 mA
	for i, it := range d.Interfaces {
		b = append(b, 9, descInterface, byte(i), 0, 2, it.Class, it.SubClass, it.Protocol, 0)
		b = append(b, it.Extra...)
		for _, ep := range []byte{byte(i + 1), 0x80 | byte(i+1)} {
			b = append(b, 7, descEndpoint, ep, EPBulk, bulkPacketSize&0xff, bulkPacketSize>>8, 0)
		}
	}
	binary.LittleEndian.PutUint16(b[2:], uint16(len(b)))
	return b
}

// String is string descriptor i (0: the language list, English (US)),
// false if there is none.
func (d *Device) String(i int) ([]byte, bool) {
	var s string
	switch i {
	case 0:
		return []byte{4, descString, 0x09, 0x04}, true
	case 1:
		s = d.Manufacturer
	case 2:
		s = d.Name
	case 3:
		s = d.Serial
	default:
		return nil, false
	}
	u := utf16.Encode([]rune(s))
	u = u[:min(len(u), 126)]
	b := []byte{byte(2 + 2*len(u)), descString}
	for _, c := range u {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return b, true
}

// epInfo is the ep_info of configuration cfg (0: unconfigured, only
// endpoint 0).
func (d *Device) epInfo(cfg uint8) EPInfo {
	var e EPInfo
	for i := range e.Type {
		e.Type[i] = EPInvalid
	}
	for _, ep := range []uint8{0x00, 0x80} {
		e.Type[EPIndex(ep)], e.MaxPacketSize[EPIndex(ep)] = EPControl, ep0PacketSize
	}
	if cfg != configValue {
		return e
	}
	for i := range d.Interfaces {
		for _, ep := range []uint8{uint8(i + 1), 0x80 | uint8(i+1)} {
			x := EPIndex(ep)
			e.Type[x], e.Interface[x], e.MaxPacketSize[x] = EPBulk, uint8(i), bulkPacketSize
		}
	}
	return e
}

// interfaceInfo is the interface_info of configuration cfg.
func (d *Device) interfaceInfo(cfg uint8) InterfaceInfo {
	var ii InterfaceInfo
	if cfg != configValue {
		return ii
	}
	ii.Count = uint32(len(d.Interfaces))
	for i, it := range d.Interfaces {
		ii.Interface[i], ii.Class[i], ii.SubClass[i], ii.Protocol[i] = uint8(i), it.Class, it.SubClass, it.Protocol
	}
	return ii
}

// control answers a standard or class control request on endpoint 0: the
// IN data (at most length bytes) or a stall.
func (d *Device) control(cp Control) ([]byte, uint8) {
	typ := cp.RequestType & 0x60
	recipient := cp.RequestType & 0x1f
	switch {
	case typ == 0x00 && cp.Request == reqGetDescriptor:
		var b []byte
		ok := true
		switch cp.Value >> 8 {
		case descDevice:
			b = d.DeviceDescriptor()
		case descConfig:
			ok = cp.Value&0xff == 0
			b = d.ConfigDescriptor()
		case descString:
			b, ok = d.String(int(cp.Value & 0xff))
		default: // device qualifier, BOS, other speed: a high-speed-only USB 2.0 device has none
			ok = false
		}
		if !ok {
			return nil, StatusStall
		}
		return b[:min(len(b), int(cp.Length))], StatusSuccess
	case typ == 0x00 && cp.Request == reqGetStatus:
		st := []byte{0, 0}
		if recipient == 0 {
			st[0] = 1 // self-powered
		}
		return st[:min(2, int(cp.Length))], StatusSuccess
	case typ == 0x00 && (cp.Request == reqClearFeature || cp.Request == reqSetFeature || cp.Request == reqSetAddress):
		return nil, StatusSuccess
	case typ == 0x20 && recipient == 1 && cp.Request == 0 && cp.RequestType&0x80 != 0 && d.DeviceID != "":
		// Printer class GET_DEVICE_ID: a big-endian length, then the ID.
		b := binary.BigEndian.AppendUint16(nil, uint16(2+len(d.DeviceID)))
		b = append(b, d.DeviceID...)
		return b[:min(len(b), int(cp.Length))], StatusSuccess
	}
	return nil, StatusStall
}

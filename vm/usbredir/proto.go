// Package usbredir speaks the USB network redirection protocol (usbredir,
// version 0.7, as QEMU's -device usb-redir and usbredirserver speak it) from
// its usb-host side: the side that has the device. A Device (descriptors
// and one byte stream per interface's bulk pair) is offered to the peer,
// QEMU's usb-guest side, with Serve; the guest's kernel then sees a real USB
// device on its emulated host controller (qemu-xhci).
//
// The wire format: every packet is a header (type, length, id; all
// integers little-endian; the id is 32 bits until both sides' hello has
// offered 64-bit ids) followed by a type-specific header and, for the data
// packets, data. Conn reads and writes packets and checks each against the
// negotiated capabilities and the direction it travels in; anything else is
// an ErrProtocol.
package usbredir

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Packet types (usbredirproto.h's usb_redir_*).
const (
	TypeHello                    = 0
	TypeDeviceConnect            = 1
	TypeDeviceDisconnect         = 2
	TypeReset                    = 3
	TypeInterfaceInfo            = 4
	TypeEPInfo                   = 5
	TypeSetConfiguration         = 6
	TypeGetConfiguration         = 7
	TypeConfigurationStatus      = 8
	TypeSetAltSetting            = 9
	TypeGetAltSetting            = 10
	TypeAltSettingStatus         = 11
	TypeStartISOStream           = 12
	TypeStopISOStream            = 13
	TypeISOStreamStatus          = 14
	TypeStartInterruptReceiving  = 15
	TypeStopInterruptReceiving   = 16
	TypeInterruptReceivingStatus = 17
	TypeAllocBulkStreams         = 18
	TypeFreeBulkStreams          = 19
	TypeBulkStreamsStatus        = 20
	TypeCancelDataPacket         = 21
	TypeFilterReject             = 22
	TypeFilterFilter             = 23
	TypeDeviceDisconnectAck      = 24
	TypeStartBulkReceiving       = 25
	TypeStopBulkReceiving        = 26
	TypeBulkReceivingStatus      = 27
	TypeControlPacket            = 100
	TypeBulkPacket               = 101
	TypeISOPacket                = 102
	TypeInterruptPacket          = 103
	TypeBufferedBulkPacket       = 104
)

// Capabilities, as bit numbers in the hello's capability word.
const (
	CapBulkStreams          = 0
	CapConnectDeviceVersion = 1
	CapFilter               = 2
	CapDeviceDisconnectAck  = 3
	CapEPInfoMaxPacketSize  = 4
	Cap64BitIDs             = 5
	Cap32BitBulkLength      = 6
	CapBulkReceiving        = 7
)

// Transfer status codes.
const (
	StatusSuccess   = 0
	StatusCancelled = 1
	StatusInval     = 2
	StatusIOError   = 3
	StatusStall     = 4
	StatusTimeout   = 5
	StatusBabble    = 6
)

// Endpoint types in ep_info.
const (
	EPControl   = 0
	EPISO       = 1
	EPBulk      = 2
	EPInterrupt = 3
	EPInvalid   = 255
)

// Speeds in device_connect.
const (
	SpeedLow   = 0
	SpeedFull  = 1
	SpeedHigh  = 2
	SpeedSuper = 3
)

// Version is what this side's hello calls itself.
const Version = "einwurf-usbredir 0.7"

// MaxPacket bounds one packet's length (type header and data): a larger
// length is refused before anything is read or allocated. usbredir's own
// parser allows 128 MiB bulk transfers; a guest's bulk transfers to an
// IPP-USB device are far smaller.
const MaxPacket = 4 << 20

// ErrProtocol marks a packet that breaks the protocol: an unknown type, a
// type not allowed in its direction, a wrong header or data length.
var ErrProtocol = errors.New("usbredir: protocol error")

// Role says which side a Conn plays.
type Role int

const (
	// Host is the side with the device (usbredirserver, Serve).
	Host Role = iota
	// Guest is the side with the emulated host controller (QEMU).
	Guest
)

// Packet is one packet as read: its type, id, the type-specific header
// (exactly the negotiated length) and its data.
type Packet struct {
	Type   uint32
	ID     uint64
	Header []byte
	Data   []byte
}

// Conn reads and writes packets on one connection. Reads must come from
// one goroutine; writes may come from many.
type Conn struct {
	role Role
	r    *bufio.Reader
	ours uint32

	mu    sync.Mutex // guards w, peer, known (writes and the caps they depend on)
	w     *bufio.Writer
	peer  uint32
	known bool
}

// NewConn returns a Conn playing role over rw, offering the capabilities
// caps (bit i = capability i) in its hello.
func NewConn(rw io.ReadWriter, role Role, caps uint32) *Conn {
	return &Conn{role: role, r: bufio.NewReaderSize(rw, 64<<10), w: bufio.NewWriterSize(rw, 64<<10), ours: caps}
}

// Has reports whether both sides offered capability c (false until the
// peer's hello is read).
func (c *Conn) Has(cap int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hasLocked(cap)
}

func (c *Conn) hasLocked(cap int) bool {
	return c.known && c.ours&(1<<cap) != 0 && c.peer&(1<<cap) != 0
}

// PeerKnown reports whether the peer's hello has been read.
func (c *Conn) PeerKnown() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.known
}

func (c *Conn) headerLen() int {
	if c.hasLocked(Cap64BitIDs) {
		return 16
	}
	return 12
}

// typeHeaderLen is the length of type t's header travelling towards the
// host (toHost) or the guest, or -1 if t may not travel that way.
func (c *Conn) typeHeaderLen(t uint32, toHost bool) int {
	either := func(host, guest int) int {
		if toHost {
			return host
		}
		return guest
	}
	switch t {
	case TypeHello:
		return 64
	case TypeDeviceConnect:
		if c.hasLocked(CapConnectDeviceVersion) {
			return either(-1, 10)
		}
		return either(-1, 8)
	case TypeDeviceDisconnect:
		return either(-1, 0)
	case TypeReset, TypeGetConfiguration, TypeCancelDataPacket, TypeFilterReject, TypeDeviceDisconnectAck:
		return either(0, -1)
	case TypeInterfaceInfo:
		return either(-1, 4+4*32)
	case TypeEPInfo:
		switch {
		case c.hasLocked(CapBulkStreams):
			return either(-1, 3*32+2*32+4*32)
		case c.hasLocked(CapEPInfoMaxPacketSize):
			return either(-1, 3*32+2*32)
		}
		return either(-1, 3*32)
	case TypeSetConfiguration, TypeGetAltSetting, TypeStopISOStream, TypeStartInterruptReceiving, TypeStopInterruptReceiving:
		return either(1, -1)
	case TypeConfigurationStatus, TypeISOStreamStatus, TypeInterruptReceivingStatus:
		return either(-1, 2)
	case TypeSetAltSetting:
		return either(2, -1)
	case TypeAltSettingStatus:
		return either(-1, 3)
	case TypeStartISOStream:
		return either(3, -1)
	case TypeAllocBulkStreams:
		return either(8, -1)
	case TypeFreeBulkStreams:
		return either(4, -1)
	case TypeBulkStreamsStatus:
		return either(-1, 9)
	case TypeFilterFilter:
		return 0
	case TypeStartBulkReceiving:
		return either(10, -1)
	case TypeStopBulkReceiving:
		return either(5, -1)
	case TypeBulkReceivingStatus:
		return either(-1, 6)
	case TypeControlPacket:
		return 10
	case TypeBulkPacket:
		if c.hasLocked(Cap32BitBulkLength) {
			return 10
		}
		return 8
	case TypeISOPacket, TypeInterruptPacket:
		return 4
	case TypeBufferedBulkPacket:
		return either(-1, 10)
	}
	return -1
}

func protoErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, args...)...)
}

// ReadPacket reads the next packet from the peer and checks it. The first
// packet must be the peer's hello (its capabilities then decide the
// lengths of what follows). An io.EOF before a packet's first byte is
// returned as io.EOF; a packet cut short is io.ErrUnexpectedEOF.
func (c *Conn) ReadPacket() (Packet, error) {
	c.mu.Lock()
	hl, known := c.headerLen(), c.known
	c.mu.Unlock()
	var h [16]byte
	if _, err := io.ReadFull(c.r, h[:hl]); err != nil {
		return Packet{}, err
	}
	p := Packet{Type: binary.LittleEndian.Uint32(h[0:]), ID: uint64(binary.LittleEndian.Uint32(h[8:]))}
	length := binary.LittleEndian.Uint32(h[4:])
	if hl == 16 {
		p.ID = binary.LittleEndian.Uint64(h[8:])
	}
	if !known && p.Type != TypeHello {
		return Packet{}, protoErr("packet type %d before the hello", p.Type)
	}
	if known && p.Type == TypeHello {
		return Packet{}, protoErr("second hello")
	}
	toHost := c.role == Host
	c.mu.Lock()
	thl := c.typeHeaderLen(p.Type, toHost)
	c.mu.Unlock()
	if thl < 0 {
		return Packet{}, protoErr("packet type %d not allowed towards the %s", p.Type, roleName(toHost))
	}
	if length > MaxPacket {
		return Packet{}, protoErr("packet type %d of %d bytes (at most %d)", p.Type, length, MaxPacket)
	}
	if int(length) < thl {
		return Packet{}, protoErr("packet type %d: length %d shorter than its %d-byte header", p.Type, length, thl)
	}
	buf := make([]byte, length)
	if _, err := io.ReadFull(c.r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Packet{}, err
	}
	p.Header, p.Data = buf[:thl:thl], buf[thl:]
	if len(p.Data) == 0 {
		p.Data = nil
	}
	if err := c.check(p, toHost); err != nil {
		return Packet{}, err
	}
	if p.Type == TypeHello {
		c.mu.Lock()
		c.peer, c.known = 0, true
		if len(p.Data) >= 4 {
			c.peer = binary.LittleEndian.Uint32(p.Data)
		}
		c.mu.Unlock()
	}
	return p, nil
}

func roleName(toHost bool) string {
	if toHost {
		return "usb-host"
	}
	return "usb-guest"
}

// check applies the rules on data: which types carry data, and for the
// transfers, that data travels only in the endpoint's direction and is
// exactly the header's length.
func (c *Conn) check(p Packet, toHost bool) error {
	switch p.Type {
	case TypeHello:
		if len(p.Data)%4 != 0 {
			return protoErr("hello: capabilities of %d bytes, not whole 32-bit words", len(p.Data))
		}
		return nil
	case TypeFilterFilter:
		if len(p.Data) == 0 || p.Data[len(p.Data)-1] != 0 {
			return protoErr("filter_filter: rules not NUL-terminated")
		}
		return nil
	case TypeInterfaceInfo:
		if n := binary.LittleEndian.Uint32(p.Header); n > 32 {
			return protoErr("interface_info: %d interfaces (at most 32)", n)
		}
	}
	var ep uint8
	var length int
	switch p.Type {
	case TypeControlPacket:
		cp := DecodeControl(p.Header)
		ep, length = cp.Endpoint, int(cp.Length)
	case TypeBulkPacket:
		bp := c.DecodeBulk(p.Header)
		ep, length = bp.Endpoint, int(bp.Length)
	case TypeISOPacket, TypeInterruptPacket:
		ep, length = p.Header[0], int(binary.LittleEndian.Uint16(p.Header[2:]))
	case TypeBufferedBulkPacket:
		ep, length = p.Header[8], int(binary.LittleEndian.Uint32(p.Header[4:]))
	default:
		if len(p.Data) != 0 {
			return protoErr("packet type %d carries %d bytes of data it may not have", p.Type, len(p.Data))
		}
		return nil
	}
	in := ep&0x80 != 0
	if in != toHost { // OUT data travels to the host, IN data to the guest
		if len(p.Data) != length {
			return protoErr("packet type %d on endpoint %#02x: %d bytes of data, header says %d", p.Type, ep, len(p.Data), length)
		}
		return nil
	}
	if len(p.Data) != 0 {
		return protoErr("packet type %d on endpoint %#02x carries data against its direction", p.Type, ep)
	}
	return nil
}

// WritePacket writes one packet (the type header as the negotiated
// length: the caller builds it with the Encode functions) and flushes it.
func (c *Conn) WritePacket(t uint32, id uint64, header, data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	hl := c.headerLen()
	var h [16]byte
	binary.LittleEndian.PutUint32(h[0:], t)
	binary.LittleEndian.PutUint32(h[4:], uint32(len(header)+len(data)))
	if hl == 16 {
		binary.LittleEndian.PutUint64(h[8:], id)
	} else {
		binary.LittleEndian.PutUint32(h[8:], uint32(id))
	}
	for _, b := range [][]byte{h[:hl], header, data} {
		if _, err := c.w.Write(b); err != nil {
			return err
		}
	}
	return c.w.Flush()
}

// Hello writes this side's hello: Version and the capabilities.
func (c *Conn) Hello() error {
	h := make([]byte, 64)
	copy(h, Version)
	caps := binary.LittleEndian.AppendUint32(nil, c.ours)
	return c.WritePacket(TypeHello, 0, h, caps)
}

// HelloVersion is the peer's version string in a hello header.
func HelloVersion(header []byte) string {
	for i, b := range header {
		if b == 0 {
			return string(header[:i])
		}
	}
	return string(header)
}

// Control is a control_packet header.
type Control struct {
	Endpoint, Request, RequestType, Status uint8
	Value, Index, Length                   uint16
}

// DecodeControl reads a control_packet header (10 bytes).
func DecodeControl(h []byte) Control {
	return Control{Endpoint: h[0], Request: h[1], RequestType: h[2], Status: h[3],
		Value: binary.LittleEndian.Uint16(h[4:]), Index: binary.LittleEndian.Uint16(h[6:]), Length: binary.LittleEndian.Uint16(h[8:])}
}

// Encode is the control_packet header.
func (cp Control) Encode() []byte {
	h := []byte{cp.Endpoint, cp.Request, cp.RequestType, cp.Status, 0, 0, 0, 0, 0, 0}
	binary.LittleEndian.PutUint16(h[4:], cp.Value)
	binary.LittleEndian.PutUint16(h[6:], cp.Index)
	binary.LittleEndian.PutUint16(h[8:], cp.Length)
	return h
}

// Bulk is a bulk_packet header.
type Bulk struct {
	Endpoint, Status uint8
	Length, StreamID uint32
}

// DecodeBulk reads a bulk_packet header of the negotiated length.
func (c *Conn) DecodeBulk(h []byte) Bulk {
	b := Bulk{Endpoint: h[0], Status: h[1], Length: uint32(binary.LittleEndian.Uint16(h[2:])), StreamID: binary.LittleEndian.Uint32(h[4:])}
	if len(h) >= 10 {
		b.Length |= uint32(binary.LittleEndian.Uint16(h[8:])) << 16
	}
	return b
}

// EncodeBulk is the bulk_packet header in the negotiated length. Without
// 32-bit lengths a length above 65535 cannot be said: the caller keeps
// transfers below it.
func (c *Conn) EncodeBulk(b Bulk) []byte {
	h := make([]byte, 8, 10)
	h[0], h[1] = b.Endpoint, b.Status
	binary.LittleEndian.PutUint16(h[2:], uint16(b.Length))
	binary.LittleEndian.PutUint32(h[4:], b.StreamID)
	if c.Has(Cap32BitBulkLength) {
		h = binary.LittleEndian.AppendUint16(h, uint16(b.Length>>16))
	}
	return h
}

// DeviceConnect is a device_connect header.
type DeviceConnect struct {
	Speed, Class, SubClass, Protocol uint8
	Vendor, Product, Version         uint16
}

// EncodeDeviceConnect is the device_connect header in the negotiated
// length (the device version only with CapConnectDeviceVersion).
func (c *Conn) EncodeDeviceConnect(d DeviceConnect) []byte {
	h := []byte{d.Speed, d.Class, d.SubClass, d.Protocol}
	h = binary.LittleEndian.AppendUint16(h, d.Vendor)
	h = binary.LittleEndian.AppendUint16(h, d.Product)
	if c.Has(CapConnectDeviceVersion) {
		h = binary.LittleEndian.AppendUint16(h, d.Version)
	}
	return h
}

// DecodeDeviceConnect reads a device_connect header (8 or 10 bytes).
func DecodeDeviceConnect(h []byte) DeviceConnect {
	d := DeviceConnect{Speed: h[0], Class: h[1], SubClass: h[2], Protocol: h[3],
		Vendor: binary.LittleEndian.Uint16(h[4:]), Product: binary.LittleEndian.Uint16(h[6:])}
	if len(h) >= 10 {
		d.Version = binary.LittleEndian.Uint16(h[8:])
	}
	return d
}

// InterfaceInfo is an interface_info header.
type InterfaceInfo struct {
	Count                                uint32
	Interface, Class, SubClass, Protocol [32]uint8
}

// Encode is the interface_info header.
func (ii InterfaceInfo) Encode() []byte {
	h := binary.LittleEndian.AppendUint32(nil, ii.Count)
	for _, a := range [][32]uint8{ii.Interface, ii.Class, ii.SubClass, ii.Protocol} {
		h = append(h, a[:]...)
	}
	return h
}

// DecodeInterfaceInfo reads an interface_info header.
func DecodeInterfaceInfo(h []byte) InterfaceInfo {
	ii := InterfaceInfo{Count: binary.LittleEndian.Uint32(h)}
	for i, a := range []*[32]uint8{&ii.Interface, &ii.Class, &ii.SubClass, &ii.Protocol} {
		copy(a[:], h[4+32*i:])
	}
	return ii
}

// EPInfo is an ep_info header: per endpoint index (OUT endpoints 0-15,
// IN endpoints 16-31: EPIndex) its type, interval, interface and maximum
// packet size.
type EPInfo struct {
	Type, Interval, Interface [32]uint8
	MaxPacketSize             [32]uint16
}

// EPIndex is an endpoint address's index in EPInfo.
func EPIndex(ep uint8) int { return int(ep&0x80)>>3 | int(ep&0x0f) }

// EncodeEPInfo is the ep_info header in the negotiated length (packet
// sizes only with CapEPInfoMaxPacketSize; streams, never offered here, as
// zero).
func (c *Conn) EncodeEPInfo(e EPInfo) []byte {
	var h []byte
	for _, a := range [][32]uint8{e.Type, e.Interval, e.Interface} {
		h = append(h, a[:]...)
	}
	if c.Has(CapEPInfoMaxPacketSize) || c.Has(CapBulkStreams) {
		for _, v := range e.MaxPacketSize {
			h = binary.LittleEndian.AppendUint16(h, v)
		}
	}
	if c.Has(CapBulkStreams) {
		h = append(h, make([]byte, 4*32)...)
	}
	return h
}

// DecodeEPInfo reads an ep_info header.
func DecodeEPInfo(h []byte) EPInfo {
	var e EPInfo
	for i, a := range []*[32]uint8{&e.Type, &e.Interval, &e.Interface} {
		copy(a[:], h[32*i:])
	}
	if len(h) >= 3*32+2*32 {
		for i := range e.MaxPacketSize {
			e.MaxPacketSize[i] = binary.LittleEndian.Uint16(h[96+2*i:])
		}
	}
	return e
}

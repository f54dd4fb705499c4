// Package ssi is the framing of Zebra's Simple Serial Interface (SSI), the
// serial protocol of Zebra/Symbol 2D imager engines:
//
//	length(1) opcode(1) source(1) status(1) data(n) checksum(2)
//
// length counts every byte but the checksum (so it is n+4); the checksum is
// the two's complement of the 16-bit sum of all preceding bytes, sent high
// byte first. A decoded barcode arrives as DECODE_DATA whose first data
// byte is the barcode type; the host answers every packet with ACK or NAK.
package ssi

import (
	"errors"
	"fmt"

	"github.com/einwurf/einwurf/drivers/barcode"
)

// Opcodes used by the kiosk.
const (
	OpACK         byte = 0xD0
	OpNAK         byte = 0xD1
	OpStartDecode byte = 0xE4
	OpStopDecode  byte = 0xE5
	OpScanEnable  byte = 0xE9
	OpScanDisable byte = 0xEA
	OpEvent       byte = 0xF6
	OpDecodeData  byte = 0xF3
	// OpRequestRevision asks the engine for its revision; it answers
	// with OpReplyRevision (some engines, and the kiosk's engine
	// simulator, with an ACK). The kiosk sends it to see whether the
	// engine answers at all.
	OpRequestRevision byte = 0xA3
	// OpReplyRevision is the engine's answer to OpRequestRevision; it is
	// a reply, not acknowledged by the host.
	OpReplyRevision byte = 0xA4
)

// Message sources.
const (
	SourceDecoder byte = 0x00
	SourceHost    byte = 0x04
)

// Status bits.
const (
	// StatusRetransmit marks a packet sent again after a NAK or a lost ACK.
	StatusRetransmit byte = 0x01
	// StatusContinuation marks a packet of a multi-packet message that is
	// followed by more.
	StatusContinuation byte = 0x02
)

// NAK causes, the data byte of a NAK.
const (
	NAKResend     byte = 0x01
	NAKBadContext byte = 0x02
	NAKDenied     byte = 0x06
)

// Size limits.
const (
	// HeaderLen is length, opcode, source and status.
	HeaderLen = 4
	// MaxData is the most data one packet holds (255 - HeaderLen).
	MaxData = 255 - HeaderLen
	// MaxFrame is the longest frame on the wire, checksum included.
	MaxFrame = 255 + 2
)

// Errors Decode reports; all wrap barcode.ErrFrame.
var (
	ErrShort    = fmt.Errorf("ssi: frame too short: %w", barcode.ErrFrame)
	ErrLength   = fmt.Errorf("ssi: length byte does not match frame: %w", barcode.ErrFrame)
	ErrChecksum = fmt.Errorf("ssi: checksum mismatch: %w", barcode.ErrFrame)
	// ErrTooLong is returned by Encode for more than MaxData bytes.
	ErrTooLong = errors.New("ssi: data longer than one packet")
)

// Packet is one SSI packet without length and checksum.
type Packet struct {
	Opcode byte
	Source byte
	Status byte
	Data   []byte
}

// Checksum returns the SSI checksum of b: the two's complement of the
// 16-bit sum of its bytes.
func Checksum(b []byte) uint16 {
	var sum uint16
	for _, x := range b {
		sum += uint16(x)
	}
	return -sum
}

// Encode returns the frame of p, ready to write.
func Encode(p Packet) ([]byte, error) {
	if len(p.Data) > MaxData {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLong, len(p.Data))
	}
	n := HeaderLen + len(p.Data)
	b := make([]byte, 0, n+2)
	b = append(b, byte(n), p.Opcode, p.Source, p.Status)
	b = append(b, p.Data...)
	c := Checksum(b)
	return append(b, byte(c>>8), byte(c)), nil
}

// Decode parses exactly one frame. The returned Data aliases frame.
func Decode(frame []byte) (Packet, error) {
	if len(frame) < HeaderLen+2 {
		return Packet{}, fmt.Errorf("%w: %d bytes", ErrShort, len(frame))
	}
	n := int(frame[0])
	if n < HeaderLen {
		return Packet{}, fmt.Errorf("%w: length %d", ErrShort, n)
	}
	if n+2 != len(frame) {
		return Packet{}, fmt.Errorf("%w: length %d, frame %d bytes", ErrLength, n, len(frame))
	}
	want := uint16(frame[n])<<8 | uint16(frame[n+1])
	if got := Checksum(frame[:n]); got != want {
		return Packet{}, fmt.Errorf("%w: computed %#04x, frame says %#04x", ErrChecksum, got, want)
	}
	return Packet{Opcode: frame[1], Source: frame[2], Status: frame[3], Data: frame[HeaderLen:n]}, nil
}

// ACK returns the host's ACK frame.
func ACK() []byte {
	b, _ := Encode(Packet{Opcode: OpACK, Source: SourceHost})
	return b
}

// NAK returns the host's NAK frame with cause.
func NAK(cause byte) []byte {
	b, _ := Encode(Packet{Opcode: OpNAK, Source: SourceHost, Data: []byte{cause}})
	return b
}

// Symbology maps an SSI barcode type byte to a symbology.
func Symbology(t byte) barcode.Symbology {
	switch t {
	case 0x01:
		return barcode.SymbologyCode39
	case 0x03:
		return barcode.SymbologyCode128
	case 0x06:
		return barcode.SymbologyInterleaved2of5
	case 0x0B, 0x0C:
		return barcode.SymbologyEAN13
	case 0x11:
		return barcode.SymbologyPDF417
	case 0x1B:
		return barcode.SymbologyDataMatrix
	case 0x1C:
		return barcode.SymbologyQR
	}
	return barcode.SymbologyUnknown
}

// Splitter cuts a byte stream into frames: the length byte says how many
// bytes follow. Bytes that cannot start a frame (a length below 4) are
// noise. It does not check checksums; Decode does. Callers Reset it when
// the line was silent too long in the middle of a frame.
type Splitter struct {
	buf  [MaxFrame]byte
	n    int // bytes in buf
	want int // whole frame length once known
}

// Push adds one byte. It returns a complete frame (aliasing the
// splitter's buffer, valid until the next Push) when b completes one, and
// noise=true when b was dropped as noise.
func (s *Splitter) Push(b byte) (frame []byte, noise bool) {
	if s.n == 0 {
		if int(b) < HeaderLen {
			return nil, true
		}
		s.want = int(b) + 2
	}
	s.buf[s.n] = b
	s.n++
	if s.n == s.want {
		s.n = 0
		return s.buf[:s.want], false
	}
	return nil, false
}

// InFrame reports whether part of a frame has been received.
func (s *Splitter) InFrame() bool { return s.n > 0 }

// Reset drops a partial frame and reports whether there was one.
func (s *Splitter) Reset() bool {
	had := s.n > 0
	s.n = 0
	return had
}

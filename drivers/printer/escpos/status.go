package escpos

import (
	"errors"
	"fmt"

	"github.com/einwurf/einwurf/drivers/printer"
)

// ErrStatus means a status answer from the printer is not one: wrong
// length or fixed bits. Nothing is concluded from such an answer.
var ErrStatus = errors.New("escpos: malformed status")

// USB printer class (USB Device Class Definition for Printing Devices 1.1)
// GET_PORT_STATUS bits.
const (
	PortPaperEmpty = 1 << 5 // 1: paper empty
	PortSelect     = 1 << 4 // 1: selected (online)
	PortNotError   = 1 << 3 // 0: error
)

// ParsePortStatus decodes the one byte GET_PORT_STATUS answers. The byte
// knows paper empty and error but not why; a cover open shows as an error
// without paper empty, which the real-time status then explains.
func ParsePortStatus(b []byte) (printer.Status, error) {
	if len(b) != 1 {
		return printer.Status{}, fmt.Errorf("%w: port status of %d bytes", ErrStatus, len(b))
	}
	if b[0]&^(PortPaperEmpty|PortSelect|PortNotError) != 0 {
		return printer.Status{}, fmt.Errorf("%w: port status %#02x has reserved bits", ErrStatus, b[0])
	}
	s := printer.Status{
		PaperOut: b[0]&PortPaperEmpty != 0,
		Online:   b[0]&PortSelect != 0 && b[0]&PortNotError != 0,
	}
	if s.PaperOut {
		s.Online = false
	}
	return s, nil
}

// Real-time status requests (DLE EOT n) this package sends, in this order;
// each is answered with one byte.
var RealtimeRequests = [...]byte{1, 2, 4}

// RealtimeQuery is the bytes that ask for RealtimeRequests.
func RealtimeQuery() []byte {
	out := make([]byte, 0, 3*len(RealtimeRequests))
	for _, n := range RealtimeRequests {
		out = append(out, dle, eot, n)
	}
	return out
}

// Bits of the DLE EOT answers.
const (
	rtOffline     = 1 << 3 // n=1: offline
	rtCoverOpen   = 1 << 2 // n=2: cover open
	rtPaperStop   = 1 << 5 // n=2: printing stopped at paper end
	rtError       = 1 << 6 // n=2: an error occurred
	rtNearEnd     = 3 << 2 // n=4: roll near its end (both bits)
	rtPaperEnd    = 3 << 5 // n=4: roll paper end (both bits)
	rtFixedMask   = 0x93   // bits 0, 1, 4, 7
	rtFixedValues = 0x12   // 0, 1, 1, 0
)

// ParseRealtime decodes the answers to RealtimeQuery: one byte each for
// printer status, offline cause and roll paper sensor.
func ParseRealtime(b []byte) (printer.Status, error) {
	if len(b) != len(RealtimeRequests) {
		return printer.Status{}, fmt.Errorf("%w: %d status bytes, want %d", ErrStatus, len(b), len(RealtimeRequests))
	}
	for i, c := range b {
		if c&rtFixedMask != rtFixedValues {
			return printer.Status{}, fmt.Errorf("%w: answer to DLE EOT %d is %#02x", ErrStatus, RealtimeRequests[i], c)
		}
	}
	st, off, paper := b[0], b[1], b[2]
	s := printer.Status{
		Online:    st&rtOffline == 0,
		CoverOpen: off&rtCoverOpen != 0,
		PaperOut:  off&rtPaperStop != 0 || paper&rtPaperEnd == rtPaperEnd,
		PaperLow:  paper&rtNearEnd == rtNearEnd,
	}
	if s.CoverOpen || s.PaperOut || off&rtError != 0 {
		s.Online = false
	}
	return s, nil
}

// RealtimeAnswer is what a printer in state s answers to RealtimeQuery: the
// inverse of ParseRealtime, for simulators.
func RealtimeAnswer(s printer.Status) []byte {
	st, off, paper := byte(rtFixedValues), byte(rtFixedValues), byte(rtFixedValues)
	if !s.Online || s.CoverOpen || s.PaperOut {
		st |= rtOffline
	}
	if s.CoverOpen {
		off |= rtCoverOpen
	}
	if s.PaperOut {
		off |= rtPaperStop
		paper |= rtPaperEnd
	}
	if !s.Online && !s.CoverOpen && !s.PaperOut {
		off |= rtError
	}
	if s.PaperLow || s.PaperOut {
		paper |= rtNearEnd
	}
	return []byte{st, off, paper}
}

// PortStatus is the GET_PORT_STATUS byte of a printer in state s, for
// simulators.
func PortStatus(s printer.Status) byte {
	var b byte
	if s.PaperOut {
		b |= PortPaperEmpty
	}
	if s.Online && !s.CoverOpen && !s.PaperOut {
		b |= PortSelect
	}
	if !s.CoverOpen && (s.Online || s.PaperOut) {
		// Paper empty has its own bit; a cover open or another fault
		// clears nError.
		b |= PortNotError
	}
	return b
}

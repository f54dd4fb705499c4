// Package barcode is the kiosk's view of a barcode reader: a source of codes
// read from a customer's letter or card. Implementations live in
// sub-packages (imager, wiegand, sim). Readers deliver the raw text of a code;
// deciding whether it is a valid customer number is kiosk/ident's job.
package barcode

import (
	"context"
	"errors"
)

// Symbology names the kind of code read, where the reader says it.
type Symbology string

// Scan is one code read.
type Scan struct {
	Data      string
	Symbology Symbology
}

// Reader delivers codes as they are read. Read blocks until a code is read,
// ctx is done or the reader fails.
type Reader interface {
	Read(ctx context.Context) (Scan, error)
}

// Errors readers report.
var (
	// ErrClosed is returned by Read after the reader was closed.
	ErrClosed = errors.New("barcode: reader closed")
	// ErrFrame marks a malformed frame (truncated, overlong, bad checksum or
	// parity). Readers count and drop such frames rather than return them.
	ErrFrame = errors.New("barcode: malformed frame")
)

// Symbologies readers report where they know them.
const (
	SymbologyUnknown         Symbology = ""
	SymbologyCode128         Symbology = "Code128"
	SymbologyCode39          Symbology = "Code39"
	SymbologyQR              Symbology = "QR"
	SymbologyDataMatrix      Symbology = "DataMatrix"
	SymbologyPDF417          Symbology = "PDF417"
	SymbologyInterleaved2of5 Symbology = "I2of5"
	SymbologyEAN13           Symbology = "EAN13"
	// SymbologyWiegand marks a number read from a Wiegand card reader.
	SymbologyWiegand Symbology = "Wiegand"
)

// More errors readers report. Frame errors wrap ErrFrame so callers can
// match the family with errors.Is(err, ErrFrame).
var (
	// ErrNoise marks an electrical pulse too short or too long to be a bit.
	ErrNoise = errors.New("barcode: noise pulse")
	// ErrInvalid marks a well-formed frame whose content is no valid code
	// (for example a Wiegand frame whose number does not fit).
	ErrInvalid = errors.New("barcode: invalid code")
)

// Stats counts what a reader saw. Bad input is counted here and never
// passed on as a code; the counts carry no code content, so they may go
// into telemetry.
type Stats struct {
	// Good is the number of codes delivered.
	Good uint64 `json:"good"`
	// Noise counts pulses or bytes outside any frame.
	Noise uint64 `json:"noise"`
	// Truncated counts frames that ended early.
	Truncated uint64 `json:"truncated"`
	// Overlong counts frames longer than allowed.
	Overlong uint64 `json:"overlong"`
	// Checksum counts frames with a bad checksum or parity.
	Checksum uint64 `json:"checksum"`
	// Invalid counts well-formed frames whose content is no valid code.
	Invalid uint64 `json:"invalid"`
	// Dropped counts codes lost because nobody read them in time.
	Dropped uint64 `json:"dropped"`
}

// Counter is implemented by readers that count what they drop.
type Counter interface {
	Stats() Stats
}

// State is a reader's health as a short code, the same in telemetry, on
// the central's dashboard and in service mode.
type State string

// Reader states.
const (
	// StateOK: the reader is there. Readers that can be asked (SSI)
	// answered just now; readers that cannot (plain serial, Wiegand) hold
	// their port or lines without error (Health.Asked says which).
	StateOK State = "ok"
	// StateAbsent: the reader's device is gone (a USB serial adapter
	// unplugged: its device node vanished).
	StateAbsent State = "absent"
	// StateOffline: the device is there but does not answer, or its port
	// failed or was closed.
	StateOffline State = "offline"
	// StateFault: the reader sends, but a burst of bad frames (checksum,
	// truncated, overlong, no text): a wrong line setting, a failing
	// cable, a broken engine.
	StateFault State = "fault"
)

// Reasons of a Health: short keys, never code content nor free text of
// the device, so they may go into telemetry, events and logs.
const (
	ReasonAnswered  = "answered"   // it answered a request just now
	ReasonPortOpen  = "port-open"  // it cannot be asked; its port is open and has not failed
	ReasonLinesHeld = "lines-held" // it cannot be asked; its GPIO lines are held and have not failed
	ReasonNoAnswer  = "no-answer"  // a request went unanswered within its time-out
	ReasonPortError = "port-error" // reading or writing the port failed
	ReasonLineError = "line-error" // waiting for an edge on its lines failed
	ReasonGone      = "gone"       // its device node is gone
	ReasonClosed    = "closed"     // the reader was closed
	ReasonBadFrames = "bad-frames" // a burst of bad frames
	ReasonSimulated = "simulated"  // set from the simulation
)

// Health is what a reader knows about itself. It holds no code content.
type Health struct {
	State State `json:"state"`
	// Reason is one of the Reason keys.
	Reason string `json:"reason,omitempty"`
	// Asked is true when the reader was asked and answered (or failed
	// to); false when the state is inferred from its port or lines only.
	Asked bool `json:"asked"`
}

// OK reports whether the reader is usable.
func (h Health) OK() bool { return h.State == StateOK }

// Checker is implemented by readers that can tell their health. Health
// returns within its own bounded time-out (well under a second or two)
// and never stalls a Read or a customer's scan; it returns ctx.Err()
// when ctx ends first.
type Checker interface {
	Health(ctx context.Context) (Health, error)
}

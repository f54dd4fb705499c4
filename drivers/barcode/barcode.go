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

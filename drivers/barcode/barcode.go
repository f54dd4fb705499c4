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

// Package scanner is the kiosk's view of a document scanner: what it can do,
// what state it is in, and a scan job that yields pages one at a time as
// streams. Implementations live in sub-packages (escl, ippusb, sim); the kiosk
// only ever sees this interface.
package scanner

import (
	"context"
	"errors"
	"io"
)

// Source is where the paper lies.
type Source string

// Sources a scanner may offer.
const (
	SourceFeeder Source = "Feeder"
	SourcePlaten Source = "Platen"
)

// ColorMode is the colour depth of the scanned image.
type ColorMode string

// Colour modes, named as eSCL names them.
const (
	ColorRGB24      ColorMode = "RGB24"
	ColorGrayscale8 ColorMode = "Grayscale8"
	ColorBlackWhite ColorMode = "BlackAndWhite1"
)

// Document formats a page can arrive in.
const (
	FormatJPEG = "image/jpeg"
	FormatPDF  = "application/pdf"
	FormatPNG  = "image/png"
)

// Side is the side of a sheet a page shows.
type Side int

// Sides of a sheet.
const (
	Front Side = iota
	Back
)

func (s Side) String() string {
	if s == Back {
		return "back"
	}
	return "front"
}

// Settings ask for one scan job.
type Settings struct {
	Source     Source
	Duplex     bool
	Resolution int // dots per inch, both axes
	ColorMode  ColorMode
	Format     string // FormatJPEG or FormatPDF
}

// Capabilities say what a scanner can do.
type Capabilities struct {
	MakeAndModel string
	Serial       string
	// Firmware is the device's firmware version where it reports one: an
	// IPP-over-USB scanner's USB release number (bcdDevice); "" where
	// unknown (eSCL's capabilities have no firmware element).
	Firmware    string
	Sources     []Source
	Duplex      bool
	Resolutions []int
	ColorModes  []ColorMode
	Formats     []string
	// MaxWidth and MaxHeight are the largest paper size in 1/300 inch.
	MaxWidth, MaxHeight int
}

// State is the scanner's state as reported by its status.
type State string

// Scanner states.
const (
	StateIdle       State = "Idle"
	StateProcessing State = "Processing"
	StateStopped    State = "Stopped"
	StateTesting    State = "Testing"
	StateDown       State = "Down"
)

// Status is a snapshot of the scanner's state.
type Status struct {
	State State
	// ADFState is the feeder's state as the device names it, e.g.
	// "ScannerAdfLoaded", "ScannerAdfEmpty", "ScannerAdfJam".
	ADFState string
	// Err is the typed error the state stands for, if any (ErrJam, ...).
	Err error
}

// Page is one scanned page. Body streams the encoded image (or a one-page
// PDF); the receiver must close it. Width and Height are in pixels and may be
// 0 when the scanner does not say them in advance.
type Page struct {
	Format     string
	Sheet      int // 1-based sheet number within the job
	Side       Side
	Resolution int
	Width      int
	Height     int
	Body       io.ReadCloser
}

// Job is a running scan. Next returns the next page, io.EOF after the last
// one, or a typed error. Close cancels the job on the device if it has not
// ended and releases it; it is safe to call more than once.
type Job interface {
	Next(ctx context.Context) (*Page, error)
	Close() error
}

// Scanner is a document scanner.
type Scanner interface {
	Capabilities(ctx context.Context) (Capabilities, error)
	Status(ctx context.Context) (Status, error)
	Scan(ctx context.Context, s Settings) (Job, error)
}

// Errors a scanner reports, so the UI can explain them to the customer.
// Implementations wrap them with %w.
var (
	ErrJam         = errors.New("scanner: paper jam")
	ErrFeederEmpty = errors.New("scanner: feeder empty")
	ErrCoverOpen   = errors.New("scanner: cover open")
	ErrDoubleFeed  = errors.New("scanner: double feed")
	// ErrPageTooLong is a sheet longer than the feeder takes (eSCL
	// ScannerAdfDuplexPageTooLong): the customer takes it out and scans
	// it folded or in parts on the next job.
	ErrPageTooLong = errors.New("scanner: page too long")
	ErrBusy        = errors.New("scanner: busy")
	ErrOffline     = errors.New("scanner: offline")
	ErrUnplugged   = errors.New("scanner: unplugged")
	ErrUnsupported = errors.New("scanner: settings not supported")
	ErrProtocol    = errors.New("scanner: protocol error")
)

// Package printer is the kiosk's view of its receipt printer: a Printer
// that reports whether it can print and prints a Receipt, with typed errors
// for the faults a customer or the facilities staff can act on (paper out,
// cover open, printer offline).
//
// Implementations live in sub-packages: escpos (ESC/POS over USB printer
// class 7/1/2) and sim (an ESC/POS interpreter that renders receipts to
// PNG, for simulation and tests).
package printer

import (
	"context"
	"errors"
	"fmt"
	"time"
	_ "time/tzdata" // Europe/Berlin without the system's zone files
)

// Errors printers report. Implementations wrap them with %w.
var (
	// ErrPaperOut means the paper roll is empty.
	ErrPaperOut = errors.New("printer: out of paper")
	// ErrCoverOpen means the paper cover is open.
	ErrCoverOpen = errors.New("printer: cover open")
	// ErrOffline means the printer does not answer or is not there.
	ErrOffline = errors.New("printer: offline")
	// ErrReceipt means the receipt cannot be printed as given (a field too
	// long, a QR payload too large).
	ErrReceipt = errors.New("printer: bad receipt")
)

// Status is what the printer says of itself.
type Status struct {
	// Online is false while the printer refuses to print (any fault).
	Online bool `json:"online"`
	// PaperOut means the roll is empty.
	PaperOut bool `json:"paper_out"`
	// PaperLow means the roll is near its end; printing still works.
	PaperLow bool `json:"paper_low"`
	// CoverOpen means the paper cover is open.
	CoverOpen bool `json:"cover_open"`
}

// Err turns the status into the error a Print would fail with: ErrPaperOut,
// ErrCoverOpen or ErrOffline, or nil when the printer is ready. Paper out
// comes first, as it is what the customer is told about.
func (s Status) Err() error {
	switch {
	case s.PaperOut:
		return ErrPaperOut
	case s.CoverOpen:
		return ErrCoverOpen
	case !s.Online:
		return ErrOffline
	}
	return nil
}

// Printer prints receipts. Methods are safe for concurrent use.
type Printer interface {
	// Status asks the printer for its state. An error (wrapping
	// ErrOffline) means it could not be asked.
	Status(ctx context.Context) (Status, error)
	// Print prints r and cuts the paper. It checks the printer's state
	// first and fails with ErrPaperOut, ErrCoverOpen or ErrOffline without
	// printing anything.
	Print(ctx context.Context, r Receipt) error
}

// Ready asks p and returns nil only if it can print now: the status check
// the kiosk makes before a customer starts scanning.
func Ready(ctx context.Context, p Printer) error {
	s, err := p.Status(ctx)
	if err != nil {
		return err
	}
	return s.Err()
}

// Receipt is what the customer takes home: proof of when their papers were
// handed in. It holds the masked number only.
type Receipt struct {
	// Office is the job centre ("Jobcenter Musterstadt").
	Office string
	// Kiosk is the kiosk's name as the customer sees it ("Eingangshalle 1").
	Kiosk string
	// Time is when the kiosk accepted the document.
	Time time.Time
	// Masked is the customer's number, masked.
	Masked string
	// Team is the team the document goes to, as a person reads it.
	Team string
	// Pages is the number of pages sent.
	Pages int
	// Code is the receipt code the customer quotes.
	Code string
	// QR is the content of the QR code: the signed statement. Empty prints
	// no QR code.
	QR string
	// Labels are the texts around the values; the zero value prints German.
	Labels Labels
}

// Labels are a receipt's fixed texts, in the customer's language.
type Labels struct {
	Title    string // "Eingangsbestätigung"
	Time     string // "Eingegangen am"
	Number   string // "Nummer"
	Team     string // "Team"
	Pages    string // "Seiten"
	Code     string // "Quittungscode"
	Footer   string // under the QR code
	Layout   string // Go time layout for Time, e.g. "02.01.2006 15:04"
	TimeZone *time.Location
}

// berlin is Europe/Berlin from the embedded time zone database (the kiosk
// image need not have one), or UTC if even that fails.
var berlin = func() *time.Location {
	if l, err := time.LoadLocation("Europe/Berlin"); err == nil {
		return l
	}
	return time.UTC
}()

// German is the default label set.
var German = Labels{
	Title:  "Eingangsbestätigung",
	Time:   "Eingegangen am",
	Number: "Nummer",
	Team:   "Team",
	Pages:  "Seiten",
	Code:   "Quittungscode",
	Footer: "Der QR-Code beweist Tag und Uhrzeit der Abgabe.",
	Layout: "02.01.2006 15:04 Uhr",
}

// WithDefaults fills empty labels from German.
func (l Labels) WithDefaults() Labels {
	def := German
	fill := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	fill(&l.Title, def.Title)
	fill(&l.Time, def.Time)
	fill(&l.Number, def.Number)
	fill(&l.Team, def.Team)
	fill(&l.Pages, def.Pages)
	fill(&l.Code, def.Code)
	fill(&l.Footer, def.Footer)
	fill(&l.Layout, def.Layout)
	if l.TimeZone == nil {
		l.TimeZone = berlin
	}
	return l
}

// Check reports whether r has what every receipt must show.
func (r Receipt) Check() error {
	switch {
	case r.Time.IsZero():
		return fmt.Errorf("%w: no time", ErrReceipt)
	case r.Code == "":
		return fmt.Errorf("%w: no receipt code", ErrReceipt)
	case r.Pages <= 0:
		return fmt.Errorf("%w: no pages", ErrReceipt)
	}
	return nil
}

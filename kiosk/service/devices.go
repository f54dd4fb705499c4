package service

import (
	"cmp"
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/einwurf/einwurf/drivers/barcode"
	"github.com/einwurf/einwurf/drivers/printer"
	"github.com/einwurf/einwurf/drivers/scanner"
)

// Light is a device's traffic light.
type Light string

// Traffic lights.
const (
	Green  Light = "green"  // works
	Yellow Light = "yellow" // works, but needs attention soon
	Red    Light = "red"    // does not work
)

// Device is one line of the diagnostics screen: a device, its light and
// one sentence, given as a message key and its arguments (the screen
// words it in the staff's language). Arguments never hold personal data.
type Device struct {
	ID    string            `json:"id"`
	Light Light             `json:"light"`
	Key   string            `json:"key"`
	Args  map[string]string `json:"args,omitempty"`
	// More is a second sentence's key, shown after the first with the
	// same arguments (the reader's last read after its state).
	More string `json:"more,omitempty"`
}

// ScannerDevice describes the scanner from its capabilities, its status
// and the error of asking.
func ScannerDevice(c scanner.Capabilities, st scanner.Status, err error) Device {
	d := Device{ID: "scanner", Light: Green, Key: "dev.scanner.ok",
		Args: map[string]string{"model": c.MakeAndModel, "feeder": st.ADFState, "state": string(st.State), "firmware": c.Firmware}}
	if c.Firmware == "" {
		d.Args["firmware"] = "–"
	}
	switch {
	case err != nil:
		d.Light, d.Key = Red, "dev.scanner.absent"
		d.Args["error"] = errKey(err)
	case errors.Is(st.Err, scanner.ErrFeederEmpty):
		// Waiting for paper: the normal state between visits.
	case st.Err != nil:
		d.Light, d.Key = Yellow, "dev.scanner.fault"
		d.Args["error"] = errKey(st.Err)
		if errors.Is(st.Err, scanner.ErrOffline) {
			d.Light = Red
		}
	}
	return d
}

// errKey is a short key of a device error, never the device's free text.
func errKey(err error) string {
	for _, e := range []struct {
		err error
		key string
	}{{scanner.ErrJam, "jam"}, {scanner.ErrDoubleFeed, "double-feed"}, {scanner.ErrCoverOpen, "cover-open"},
		{scanner.ErrFeederEmpty, "feeder-empty"}, {scanner.ErrUnplugged, "unplugged"}, {scanner.ErrOffline, "offline"},
		{scanner.ErrBusy, "busy"}, {scanner.ErrStalled, "stalled"}, {scanner.ErrPageTooLong, "page-too-long"}, {context.DeadlineExceeded, "no-answer"},
		{printer.ErrPaperOut, "paper-out"}, {printer.ErrCoverOpen, "cover-open"}, {printer.ErrOffline, "offline"}} {
		if errors.Is(err, e.err) {
			return e.key
		}
	}
	return "fault"
}

// PrinterDevice describes the receipt printer.
func PrinterDevice(st printer.Status, err error) Device {
	d := Device{ID: "printer", Light: Green, Key: "dev.printer.ok"}
	switch {
	case err != nil:
		d.Light, d.Key, d.Args = Red, "dev.printer.absent", map[string]string{"error": errKey(err)}
	case st.Err() != nil:
		d.Light, d.Key, d.Args = Red, "dev.printer.fault", map[string]string{"error": errKey(st.Err())}
	case st.PaperLow:
		d.Light, d.Key = Yellow, "dev.printer.paper-low"
	}
	return d
}

// ReaderDevice describes the customers' barcode reader: its health as the
// appliance last confirmed it (known false: not asked yet, or the reader
// cannot tell) as the light and first sentence, the last read as the
// second. Red while it is absent, offline or faulty (the reason key is
// the error argument); green while it answers, or, for a reader that
// cannot be asked, holds its port without error (the sentence says a test
// read is the proof); yellow while not known.
func ReaderDevice(h barcode.Health, known bool, last *LastRead) Device {
	d := Device{ID: "reader", Light: Green, Key: "dev.reader.ok", More: "dev.reader.none"}
	if last != nil {
		d.More = "dev.reader.last"
	}
	switch {
	case !known:
		d.Light, d.Key = Yellow, "dev.reader.unknown"
	case h.State == barcode.StateOK && !h.Asked:
		d.Key = "dev.reader.ok-unasked"
	case h.State == barcode.StateOK:
	case h.State == barcode.StateAbsent, h.State == barcode.StateOffline, h.State == barcode.StateFault:
		d.Light, d.Key = Red, "dev.reader."+string(h.State)
		d.Args = map[string]string{"error": cmp.Or(h.Reason, "fault")}
	default:
		d.Light, d.Key = Yellow, "dev.reader.unknown"
	}
	return d
}

// CountingScanner counts what passes through a scanner: pages, sheets,
// jams and double feeds.
type CountingScanner struct {
	scanner.Scanner
	C *Counters
}

// Scan implements scanner.Scanner.
func (s CountingScanner) Scan(ctx context.Context, st scanner.Settings) (scanner.Job, error) {
	j, err := s.Scanner.Scan(ctx, st)
	if err != nil {
		s.count(err)
		return nil, err
	}
	return &countingJob{Job: j, s: s}, nil
}

func (s CountingScanner) count(err error) {
	switch {
	case errors.Is(err, scanner.ErrJam):
		s.C.Add(CountJams, 1)
	case errors.Is(err, scanner.ErrDoubleFeed):
		s.C.Add(CountDoubleFeeds, 1)
	}
}

type countingJob struct {
	scanner.Job
	s     CountingScanner
	sheet int
}

func (j *countingJob) Next(ctx context.Context) (*scanner.Page, error) {
	p, err := j.Job.Next(ctx)
	if err != nil {
		j.s.count(err)
		return p, err
	}
	j.s.C.Add(CountPages, 1)
	if p.Sheet != j.sheet {
		j.sheet = p.Sheet
		j.s.C.Add(CountSheets, 1)
	}
	return p, nil
}

// CountingPrinter counts the receipts printed.
type CountingPrinter struct {
	printer.Printer
	C *Counters
}

// Print implements printer.Printer.
func (p CountingPrinter) Print(ctx context.Context, r printer.Receipt) error {
	err := p.Printer.Print(ctx, r)
	if err == nil {
		p.C.Add(CountReceipts, 1)
	}
	return err
}

// ReadLog remembers the barcode reader's last read: when, and what kind
// of code of what length, never its content (it may be a customer's
// number).
type ReadLog struct {
	last atomic.Pointer[LastRead]
}

// LastRead is the barcode reader's last read.
type LastRead struct {
	At        time.Time `json:"at"`
	Symbology string    `json:"symbology"`
	Length    int       `json:"length"`
}

// Saw records a read.
func (r *ReadLog) Saw(s barcode.Scan, at time.Time) {
	r.last.Store(&LastRead{At: at.UTC(), Symbology: string(s.Symbology), Length: len(s.Data)})
}

// Last returns the last read (nil: none since start).
func (r *ReadLog) Last() *LastRead { return r.last.Load() }

// DefaultWaitingWarn is how long the oldest document may wait for the
// central's receipt before the connection's light turns yellow.
const DefaultWaitingWarn = time.Hour

// Uplink is what the connection to the central reports.
type Uplink struct {
	Broker    string // host:port, no credentials
	Connected bool
	Waiting   int       // documents in the outbox
	Oldest    time.Time // the oldest one's creation (zero: none)
	Last      time.Time // the last delivery (zero: none)
}

// UplinkDevice describes the connection: broker, last delivery, documents
// waiting and the oldest one's time. Red while not connected; yellow when
// the oldest has waited longer than warnAfter (0: DefaultWaitingWarn) at
// now.
func UplinkDevice(u Uplink, warnAfter time.Duration, now time.Time) Device {
	if warnAfter <= 0 {
		warnAfter = DefaultWaitingWarn
	}
	d := Device{ID: "uplink", Light: Green, Key: "dev.uplink.ok", Args: map[string]string{
		"broker": u.Broker, "waiting": strconv.Itoa(u.Waiting), "last": "", "oldest": ""}}
	if !u.Last.IsZero() {
		d.Args["last"] = u.Last.Format(time.RFC3339)
	}
	if !u.Oldest.IsZero() {
		d.Args["oldest"] = u.Oldest.Format(time.RFC3339)
	}
	switch {
	case !u.Connected:
		d.Light, d.Key = Red, "dev.uplink.down"
	case u.Waiting > 0 && !u.Oldest.IsZero() && now.Sub(u.Oldest) > warnAfter:
		d.Light = Yellow
	}
	return d
}

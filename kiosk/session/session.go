// Package session is one customer's visit at the kiosk: identify, scan,
// review, confirm. It owns the plaintext pages of the visit in a private
// folder and wipes them when the visit ends — confirmed, cancelled or timed
// out, by any path. A confirmed document goes to a Submitter; only when that
// returns is the customer told it was accepted.
//
// States:
//
//	Idle ─Identify (reader)→ Identified ─Scan→ Scanning → Review ─Confirm→ Submitting → Done
//	  │                          ▲  ▲                       │  │
//	  └─Type (keypad)→ Checking ─┘  └───── Scan (more) ─────┘  └─another number→ Claim
//	                                                           (same number again: Review;
//	                                                            "not mine" or time-out: wiped,
//	                                                            the new number's visit starts)
//	any state but Submitting ─Cancel or idle time-out (after a warning)→ Idle (wiped)
//
// Pages belong to one visit and one number: a new number never inherits
// pages it did not scan. Slow work (scanning, the preview, the PDF, the
// Submitter) runs outside the lock, so the UI sees every state; every
// change is announced on Changes for push updates.
package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/einwurf/einwurf/drivers/printer"
	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/kiosk/document"
	"github.com/einwurf/einwurf/kiosk/document/ramfolder"
	"github.com/einwurf/einwurf/kiosk/ident"
)

// State is the state of the visit.
type State string

// States of a visit.
const (
	Idle State = "idle"
	// Checking shows a typed number in full for the customer to confirm.
	Checking   State = "checking"
	Identified State = "identified"
	Scanning   State = "scanning"
	Review     State = "review"
	// Claim: another number was given while the visit holds pages. The
	// pages stay only if the visit's own number is given again.
	Claim      State = "claim"
	Submitting State = "submitting"
	Done       State = "done"
)

// Errors the UI explains.
var (
	ErrState        = errors.New("session: not possible now")
	ErrNoPages      = errors.New("session: no pages to send")
	ErrNoNumber     = errors.New("session: no customer number given")
	ErrCannotAccept = errors.New("session: the kiosk cannot accept documents now")
	// ErrNotNumber: the barcode reader read a code that is no customer
	// number.
	ErrNotNumber = errors.New("session: the code read is not a customer number")
	// ErrChoose: the pages carry another number than the one given; the
	// customer must choose before sending.
	ErrChoose = errors.New("session: choose the number first")
	// ErrOneSheet is a rescan that fed more than the one sheet asked for;
	// the sheets after the first were not taken.
	ErrOneSheet = errors.New("session: put only the one sheet into the feeder")
	// ErrIncomplete wraps every error that ended a scan job early: the
	// customer is told the scan did not finish (the wrapped scanner error
	// says why, when it is known).
	ErrIncomplete = errors.New("session: the scan did not finish")
)

// Config configures a Kiosk.
type Config struct {
	Scanner   scanner.Scanner
	Submitter Submitter
	// Printer prints receipts (nil: no printer, the screen receipt only).
	// Its status is asked on each Tick.
	Printer printer.Printer
	// Office and KioskName are printed on the receipt.
	Office, KioskName string
	// Labels gives the receipt's texts in a language (nil: German).
	Labels func(lang string) printer.Labels
	// WorkDir is where earlier versions kept visits on disk; it is wiped
	// at start. Pages are never written there now: they live in memory
	// files (kiosk/document/ramfolder), which a crash frees.
	WorkDir  string
	Settings scanner.Settings
	Document document.Options
	// RemoveBlank leaves pages judged blank out of the document unless the
	// customer puts them back on the review screen.
	RemoveBlank bool
	// IdleTimeout is how long a visit may go untouched before the "Noch
	// da?" warning (default 3 minutes).
	IdleTimeout time.Duration
	// WarnTimeout is the warning's countdown before the wipe (default 20s).
	WarnTimeout time.Duration
	// ClaimTimeout is the countdown of "Sind das Ihre Seiten?" (default 15s).
	ClaimTimeout time.Duration
	// DoneTimeout returns from the receipt screen to Idle (default 30s).
	DoneTimeout time.Duration
	// CanAccept is asked before a visit starts and before scanning; an
	// error means the kiosk must not take numbers or paper (disk full,
	// outbox in alarm, service mode). It is asked without the visit's
	// lock (it may look at the disk), so it may also ask the Kiosk. May
	// be nil.
	CanAccept func() error
	// OnEvent is told of visit events (no personal data). It is called
	// with the visit's lock held: it must return at once and must not
	// call the Kiosk. May be nil.
	OnEvent func(name string)
	// Logger receives the session's log lines (default: discarded).
	Logger *slog.Logger
	Now    func() time.Time
}

// PageView describes a page for the review screen.
type PageView struct {
	Index int    `json:"index"`
	Sheet int    `json:"sheet"`
	Side  string `json:"side"`
	Blank bool   `json:"blank"`
	Kept  bool   `json:"kept"`
}

// MissingPage is a page the kiosk could not take: the scanner delivered it
// but it could not be read. The review screen names it ("Blatt 2
// Vorderseite fehlt — bitte erneut einlegen") and the customer may rescan
// its sheet (Rescan) before sending.
type MissingPage struct {
	Sheet int    `json:"sheet"`
	Side  string `json:"side"` // "front" or "back"
}

// Choice is one number the customer may choose when the pages disagree
// with the number given.
type Choice struct {
	Index int `json:"index"`
	// Masked shows the number masked, with the places where the choices
	// differ shown.
	Masked string `json:"masked"`
	// FromPages says the number is printed on the pages.
	FromPages bool `json:"from_pages"`
}

// View is what the UI shows. It holds masked numbers only, except Typed:
// the number the customer typed, shown in full on the Checking screen.
type View struct {
	State  State  `json:"state"`
	Masked string `json:"masked,omitempty"`
	// Typed is the typed number in full (Checking only).
	Typed string `json:"typed,omitempty"`
	// Prefilled says the number was read from the pages' barcode.
	Prefilled bool       `json:"prefilled,omitempty"`
	Kind      string     `json:"kind,omitempty"`
	Pages     []PageView `json:"pages"`
	Scanned   int        `json:"scanned"`
	Kept      int        `json:"kept"`
	// Choices, when set, must be decided (Choose) before Confirm.
	Choices []Choice `json:"choices,omitempty"`
	// ClaimMasked is the new number on the Claim screen.
	ClaimMasked string `json:"claim_masked,omitempty"`
	// Countdown is the seconds left on the Claim screen or of the idle
	// warning; IdleWarning says the latter is running.
	Countdown   int  `json:"countdown,omitempty"`
	IdleWarning bool `json:"idle_warning,omitempty"`
	// Stopping says the customer stopped the scan; it ends after the
	// current page.
	Stopping bool   `json:"stopping,omitempty"`
	Warning  string `json:"warning,omitempty"`
	// Missing lists the pages dropped in this visit, in sheet order; it
	// stays until their sheet is rescanned or the visit ends.
	Missing  []MissingPage `json:"missing"`
	Error    string        `json:"error,omitempty"`
	ErrorKey string        `json:"error_key,omitempty"`
	Receipt  *Receipt      `json:"receipt,omitempty"`
	// Printing, Printed and PrintErrorKey tell how the paper receipt went.
	Printing      bool   `json:"printing,omitempty"`
	Printed       bool   `json:"printed,omitempty"`
	PrintErrorKey string `json:"print_error_key,omitempty"`
	// PrinterKey tells, before scanning, that no paper receipt can be
	// printed (the screen receipt still is shown).
	PrinterKey string `json:"printer_key,omitempty"`
	Preview    int    `json:"preview"` // generation of the preview PDF, for thumbnail caching
	// Thumbs is the visit's capability for its thumbnails: without it
	// Thumbnail refuses. The UI hands it to the kiosk's browser only.
	Thumbs string `json:"thumbs,omitempty"`
	// Visit changes with each visit (a random name), so the UI drops all
	// it holds of the previous one.
	Visit string `json:"visit,omitempty"`
	// Seq counts the changes of the view since the kiosk started: of two
	// views, the one with the larger Seq is the newer (a page that gets
	// the view both pushed and as the answer to its request keeps the
	// newer, whichever arrives last).
	Seq uint64 `json:"seq"`
}

// Kiosk runs one visit at a time. Its methods are safe for concurrent use.
type Kiosk struct {
	cfg Config
	log *slog.Logger
	mu  sync.Mutex

	state  State
	number ident.Number
	// typed is a typed number waiting for Accept (Checking); back is the
	// state to return to.
	typed ident.Number
	back  State
	// claim is the new number while in Claim, until claimEnd.
	claim    ident.Number
	claimEnd time.Time
	// found are the numbers read from the pages' barcodes; choices the
	// numbers the customer must choose from; settled those already
	// decided on.
	choices []ident.Number
	settled []ident.Number

	visit  string
	folder *ramfolder.Folder // the visit's pages, in memory only
	// thumbCap is the capability for the thumbnails of this visit.
	thumbCap string
	pages    []document.Page
	kept     []bool
	preview  string // PDF of all pages, for thumbnails
	gen      int
	thumbs   map[int][]byte
	warning  string
	missing  []MissingPage
	// prefilled: the number came from a barcode on the pages, not from
	// the customer; the review screen asks them to check it.
	prefilled bool
	err       error
	receipt   *Receipt
	printing  bool
	printed   bool
	printErr  error
	// printerErr is the printer's status at the last Tick; lang the
	// customer's language for the receipt.
	printerErr error
	lang       string
	deadline   time.Time
	cancel     context.CancelFunc
	stopping   bool
	notify     chan struct{}
	seq        uint64 // changes so far (View.Seq)
	shown      int    // last countdown announced

	visits, pagesSent atomic.Int64 // submitted, for telemetry
}

// New returns a Kiosk in the Idle state. It wipes visit folders left over
// from before a crash.
func New(cfg Config) (*Kiosk, error) {
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 3 * time.Minute
	}
	if cfg.WarnTimeout <= 0 {
		cfg.WarnTimeout = 20 * time.Second
	}
	if cfg.ClaimTimeout <= 0 {
		cfg.ClaimTimeout = 15 * time.Second
	}
	if cfg.DoneTimeout <= 0 {
		cfg.DoneTimeout = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.WorkDir != "" {
		if err := os.RemoveAll(cfg.WorkDir); err != nil {
			return nil, fmt.Errorf("session: wipe leftovers: %w", err)
		}
	}
	// Fail now, not at the first customer, where memory files are missing.
	probe, err := ramfolder.New()
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	probe.Close()
	return &Kiosk{cfg: cfg, log: log, state: Idle, notify: make(chan struct{})}, nil
}

func (k *Kiosk) event(name string) {
	if k.cfg.OnEvent != nil {
		k.cfg.OnEvent(name)
	}
}

// changed wakes those waiting on Changes. Caller holds k.mu.
func (k *Kiosk) changed() {
	k.seq++
	close(k.notify)
	k.notify = make(chan struct{})
}

// Changes returns a channel closed at the next change of the View.
func (k *Kiosk) Changes() <-chan struct{} {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.notify
}

// touch restarts the idle time. Caller holds k.mu.
func (k *Kiosk) touch() {
	k.deadline = k.cfg.Now().Add(k.cfg.IdleTimeout)
	k.shown = 0
}

// act begins an action of the customer: the previous error is acknowledged
// and the idle time restarts. Caller holds k.mu.
func (k *Kiosk) act() {
	k.err = nil
	k.touch()
}

// Identify gives the number the barcode reader read. It is shown masked.
// Where the visit holds pages of another number, it asks whether they are
// the customer's (Claim) and keeps them only when the same number is given
// again.
func (k *Kiosk) Identify(raw string) error {
	n, err := ident.Parse(raw)
	can := k.admission()
	k.mu.Lock()
	defer k.mu.Unlock()
	defer k.changed()
	if k.state == Scanning || k.state == Submitting {
		return ErrState
	}
	if err != nil {
		k.event("ident.invalid")
		k.act()
		k.err = fmt.Errorf("%w: %w", ErrNotNumber, err)
		return k.err
	}
	return k.give(n, can)
}

// Type gives a number typed on the keypad. It is shown in full for the
// customer to check (Checking) and taken only on Accept; on the Claim
// screen it is compared with the visit's number straight away.
func (k *Kiosk) Type(raw string) error {
	n, err := ident.Parse(raw)
	can := k.admission()
	k.mu.Lock()
	defer k.mu.Unlock()
	defer k.changed()
	switch k.state {
	case Scanning, Submitting, Checking:
		return ErrState
	}
	k.act()
	if err != nil {
		k.event("ident.invalid")
		k.err = err
		return err
	}
	if k.state == Claim {
		return k.give(n, can)
	}
	if k.state == Idle || k.state == Done {
		if err := k.accepting(can); err != nil {
			return err
		}
	}
	k.typed, k.back, k.state = n, k.state, Checking
	return nil
}

// Accept takes the typed number the customer checked.
func (k *Kiosk) Accept() error {
	can := k.admission()
	k.mu.Lock()
	defer k.mu.Unlock()
	defer k.changed()
	if k.state != Checking {
		return ErrState
	}
	n := k.typed
	k.typed, k.state = ident.Number{}, k.back
	return k.give(n, can)
}

// Retype drops the typed number and returns to where the customer typed
// it.
func (k *Kiosk) Retype() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	defer k.changed()
	if k.state != Checking {
		return ErrState
	}
	k.act()
	k.typed, k.state = ident.Number{}, k.back
	return nil
}

// admission asks CanAccept, before the caller takes k.mu: it may look at
// the disk (the outbox's usage), and nothing slow runs under the lock
// every screen update, tap and event stream of the UI needs.
func (k *Kiosk) admission() error {
	if k.cfg.CanAccept == nil {
		return nil
	}
	return k.cfg.CanAccept()
}

// accepting refuses a new visit when the kiosk cannot take documents (can
// is what admission answered); the reason stays on the screen. Caller
// holds k.mu.
func (k *Kiosk) accepting(can error) error {
	if can != nil {
		k.err = fmt.Errorf("%w: %v", ErrCannotAccept, can)
		return k.err
	}
	return nil
}

// give applies a number the customer gave; can is what admission
// answered. Caller holds k.mu.
func (k *Kiosk) give(n ident.Number, can error) error {
	k.act()
	switch k.state {
	case Idle, Done:
		if err := k.accepting(can); err != nil {
			return err
		}
		if err := k.startVisit(); err != nil {
			return err
		}
		k.state = Identified
	case Identified:
		if len(k.pages) > 0 && !k.number.IsZero() && n != k.number {
			return k.startClaim(n)
		}
	case Review:
		switch {
		case n == k.number:
			return nil
		case !k.number.IsZero() && len(k.pages) > 0:
			return k.startClaim(n)
		}
	case Claim:
		switch n {
		case k.number: // the same customer: the pages stay theirs
			k.claim, k.state = ident.Number{}, Review
			k.event("visit.claimed")
		case k.claim:
		default:
			k.claim, k.claimEnd = n, k.cfg.Now().Add(k.cfg.ClaimTimeout)
		}
		return nil
	default:
		return ErrState
	}
	k.number, k.prefilled = n, false
	k.checkCodes()
	k.event("visit.identified")
	return nil
}

// startClaim asks whether the pages belong to the new number. Caller holds
// k.mu.
func (k *Kiosk) startClaim(n ident.Number) error {
	k.claim, k.claimEnd, k.state = n, k.cfg.Now().Add(k.cfg.ClaimTimeout), Claim
	k.event("visit.claim")
	return nil
}

// NotMine answers "Sind das Ihre Seiten?" with no: the pages are wiped and
// a visit for the new number starts.
func (k *Kiosk) NotMine() error {
	can := k.admission()
	k.mu.Lock()
	defer k.mu.Unlock()
	defer k.changed()
	if k.state != Claim {
		return ErrState
	}
	return k.handOver(can)
}

// handOver wipes the visit and starts one for the claiming number; can is
// what admission answered. Caller holds k.mu.
func (k *Kiosk) handOver(can error) error {
	n := k.claim
	k.wipe()
	k.state = Idle
	k.event("visit.claim-wiped")
	return k.give(n, can)
}

// startVisit forgets the previous visit and makes the new one's private
// folder, in memory only, and its thumbnail capability. Caller holds k.mu.
func (k *Kiosk) startVisit() error {
	k.wipe()
	dir, err := ramfolder.New()
	if err != nil {
		return fmt.Errorf("session: %w", err)
	}
	k.folder, k.visit, k.thumbCap = dir, randomHex(8), randomHex(16)
	k.touch()
	k.event("visit.started")
	return nil
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Scan feeds the scanner and adds its pages to the visit. It returns when
// the feeder is empty, on a scanner error (pages read before it are kept),
// when the customer stops it (Stop), or when ctx ends. From Idle it starts
// a visit without a number: a number found in a barcode on the pages fills
// it in, else the customer gives it on the review screen before sending.
// A scan that yields no page and holds none returns to where it started,
// with the error shown.
func (k *Kiosk) Scan(ctx context.Context) error { return k.run(ctx, 0) }

// Rescan scans one sheet again, in Review: the customer puts sheet (as the
// review screen numbers it) back into the feeder, and its pages replace
// that sheet's pages and its entries in View.Missing. A feeder holding
// more than one sheet ends the rescan with ErrOneSheet; the first sheet is
// kept.
func (k *Kiosk) Rescan(ctx context.Context, sheet int) error {
	k.mu.Lock()
	ok := k.state == Review && sheet >= 1 && sheet <= k.lastSheet()
	k.mu.Unlock()
	if !ok {
		return ErrState
	}
	return k.run(ctx, sheet)
}

// lastSheet is the highest sheet number of the visit, taken or dropped.
// Caller holds k.mu.
func (k *Kiosk) lastSheet() int {
	n := 0
	for _, p := range k.pages {
		n = max(n, p.Sheet)
	}
	for _, m := range k.missing {
		n = max(n, m.Sheet)
	}
	return n
}

// run is Scan (rescan 0) or Rescan of one sheet.
func (k *Kiosk) run(ctx context.Context, rescan int) error {
	can := k.admission()
	k.mu.Lock()
	switch k.state {
	case Identified, Review, Idle, Done:
	default:
		k.mu.Unlock()
		return ErrState
	}
	if rescan > 0 && k.state != Review {
		k.mu.Unlock()
		return ErrState
	}
	k.act()
	if err := k.accepting(can); err != nil {
		k.changed()
		k.mu.Unlock()
		return ErrCannotAccept
	}
	from := k.state
	if from == Idle || from == Done {
		if err := k.startVisit(); err != nil {
			k.mu.Unlock()
			return err
		}
		from = Idle
	}
	if k.folder == nil { // no visit folder: cannot happen after startVisit
		k.mu.Unlock()
		return ErrState
	}
	k.state, k.stopping = Scanning, false
	ctx, cancel := context.WithCancel(ctx)
	k.cancel = cancel
	dir, visit := k.folder, k.visit
	// Sheet numbers restart with each job; keep them unique per visit.
	offset := k.lastSheet()
	k.changed()
	k.mu.Unlock()
	defer cancel()

	var err error
	if rescan > 0 {
		err = k.rescan(ctx, dir, visit, rescan)
	} else {
		err = k.scan(ctx, dir, visit, offset)
	}
	k.mu.Lock()
	stopped := k.stopping
	k.mu.Unlock()
	if stopped && errors.Is(err, context.Canceled) {
		err = nil
	}
	// The preview, outside the lock: the UI keeps showing "scanning".
	var preview string
	var perr error
	if k.visitIs(visit) {
		preview, perr = k.buildPreview(dir, visit)
	}

	k.mu.Lock()
	defer k.mu.Unlock()
	defer k.changed()
	k.cancel, k.stopping = nil, false
	if k.state != Scanning || k.visit != visit { // cancelled meanwhile
		return ErrState
	}
	if err == nil {
		err = perr
	}
	if preview != "" {
		if k.preview != "" {
			k.folder.Remove(k.preview)
		}
		k.preview = preview
		k.gen++
		k.thumbs = map[int][]byte{}
	}
	switch {
	case len(k.pages) > 0:
		k.state = Review
	case from == Idle && k.number.IsZero():
		k.wipe()
		k.state = Idle
	default:
		k.state = Identified
	}
	k.err = err
	k.checkCodes()
	k.touch()
	k.event("visit.scanned")
	return err
}

// visitIs says whether visit is still the current one.
func (k *Kiosk) visitIs(visit string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.visit == visit && len(k.pages) > 0
}

// Stop ends a running scan after the current page; the pages read so far
// are kept.
func (k *Kiosk) Stop() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	defer k.changed()
	if k.state != Scanning || k.cancel == nil {
		return ErrState
	}
	k.stopping = true
	k.cancel()
	k.event("visit.scan-stopped")
	return nil
}

// scan appends the pages of one job to the visit, their sheets numbered
// after offset. A duplex job that ends on a front lost that sheet's back
// (or the device scanned simplex though asked for duplex): the back is
// named missing.
func (k *Kiosk) scan(ctx context.Context, dir document.Folder, visit string, offset int) error {
	n, last := 0, 0
	err := k.feed(ctx, dir, visit, func(p *scanner.Page) error {
		p.Sheet += offset
		return nil
	}, func(pg *document.Page, m *MissingPage) {
		n++
		if pg != nil {
			k.pages = append(k.pages, *pg)
			k.kept = append(k.kept, !pg.Blank || !k.cfg.RemoveBlank)
			last = pg.Sheet
		} else {
			k.missing = append(k.missing, *m)
			last = m.Sheet
		}
	})
	if err == nil && k.cfg.Settings.Duplex && n%2 == 1 {
		k.mu.Lock()
		k.missing = append(k.missing, MissingPage{Sheet: last, Side: scanner.Back.String()})
		k.mu.Unlock()
	}
	return err
}

// rescan replaces the pages of one sheet with the first sheet of a job.
func (k *Kiosk) rescan(ctx context.Context, dir document.Folder, visit string, sheet int) error {
	var pages []document.Page
	var missing []MissingPage
	err := k.feed(ctx, dir, visit, func(p *scanner.Page) error {
		if p.Sheet != 1 {
			p.Body.Close()
			return ErrOneSheet
		}
		p.Sheet = sheet
		return nil
	}, func(pg *document.Page, m *MissingPage) {
		if pg != nil {
			pages = append(pages, *pg)
		} else {
			missing = append(missing, *m)
		}
	})
	if len(pages) == 0 && len(missing) == 0 {
		return err // nothing fed: the sheet stays as it was
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.visit != visit {
		return ErrState
	}
	// Drop the sheet's old pages, then put the new ones where it was.
	at := -1
	var keepPages []document.Page
	var keepKept []bool
	for i, p := range k.pages {
		if p.Sheet == sheet {
			continue
		}
		if p.Sheet > sheet && at < 0 {
			at = len(keepPages)
		}
		keepPages, keepKept = append(keepPages, p), append(keepKept, k.kept[i])
	}
	if at < 0 {
		at = len(keepPages)
	}
	var kept []bool
	for _, pg := range pages {
		kept = append(kept, !pg.Blank || !k.cfg.RemoveBlank)
	}
	k.pages = slices.Insert(keepPages, at, pages...)
	k.kept = slices.Insert(keepKept, at, kept...)
	k.missing = slices.DeleteFunc(k.missing, func(m MissingPage) bool { return m.Sheet == sheet })
	k.missing = append(k.missing, missing...)
	if k.cfg.Settings.Duplex && (len(pages)+len(missing))%2 == 1 {
		// The rescanned sheet came back without its back.
		k.missing = append(k.missing, MissingPage{Sheet: sheet, Side: scanner.Back.String()})
	}
	slices.SortStableFunc(k.missing, func(a, b MissingPage) int { return a.Sheet - b.Sheet })
	return err
}

// feed runs one scan job: each page is numbered by number (which may end
// the job with an error), read, and handed to add as a page or, if it
// could not be read, as a missing page (add runs under k.mu). It returns
// nil only at the job's normal end: a dropped connection, a stalled or
// stopped scanner is an error, never the end of the job. A visit ended
// meanwhile ends it with ErrState.
func (k *Kiosk) feed(ctx context.Context, dir document.Folder, visit string, number func(*scanner.Page) error, add func(*document.Page, *MissingPage)) error {
	job, err := k.cfg.Scanner.Scan(ctx, k.cfg.Settings)
	if err != nil {
		return err
	}
	defer job.Close()
	for {
		p, err := job.Next(ctx)
		if scanner.IsEnd(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrIncomplete, err)
		}
		if err := number(p); err != nil {
			return err
		}
		pg, err := document.IngestIn(ctx, dir, p, k.cfg.Document)
		p.Body.Close()
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		k.mu.Lock()
		if k.visit != visit {
			k.mu.Unlock()
			return ErrState
		}
		if err != nil {
			// One bad page: keep the rest, go on, and name it on the
			// review screen so the customer can rescan it.
			add(nil, &MissingPage{Sheet: p.Sheet, Side: p.Side.String()})
		} else {
			add(&pg, nil)
		}
		k.touch()
		k.changed()
		k.mu.Unlock()
		if err != nil { // logged outside the lock
			k.log.Warn("session: page rejected", "sheet", p.Sheet, "side", p.Side.String(), "err", err)
		}
		if err != nil && scanner.Kind(err) != nil {
			// The page broke off because the scanner did (a dropped
			// connection, a stall): the job is over, not finished.
			return fmt.Errorf("%w: %w", ErrIncomplete, err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// buildPreview writes a PDF of all pages of the visit; thumbnails are
// rendered from it so the customer sees what the central will file. It
// runs outside the lock.
func (k *Kiosk) buildPreview(dir document.Folder, visit string) (string, error) {
	k.mu.Lock()
	pages := slices.Clone(k.pages)
	gen := k.gen + 1
	k.mu.Unlock()
	return k.writePDF(dir, fmt.Sprintf("preview-%d.pdf", gen), pages)
}

// writePDF builds pages into a PDF named name in the visit's folder and
// returns the path it opens by.
func (k *Kiosk) writePDF(dir document.Folder, name string, pages []document.Page) (string, error) {
	f, err := dir.CreateTemp("pdf")
	if err != nil {
		return "", fmt.Errorf("session: %w", err)
	}
	_, err = document.Build(context.Background(), f, pages, document.Meta{
		Title: "Einwurf", DocumentID: randomHex(16), Created: k.cfg.Now(), Producer: "Einwurf kiosk"})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		dir.Remove(f.Name())
		return "", err
	}
	return dir.Rename(f.Name(), name)
}

// checkCodes compares numbers found in barcodes on the pages with the
// number given, or fills the number in when none was given and the pages
// agree on one. Where they disagree, the customer must choose. Caller
// holds k.mu.
func (k *Kiosk) checkCodes() {
	k.warning, k.choices = "", nil
	var found []ident.Number
	for _, text := range document.CodeTexts(k.pages) {
		if n, err := ident.Parse(text); err == nil && !slices.Contains(found, n) {
			found = append(found, n)
		}
	}
	switch {
	case len(found) == 0:
	case k.number.IsZero() && len(found) == 1:
		k.number = found[0]
		k.prefilled = true
	case k.number.IsZero():
		k.warning = "several-numbers"
	default:
		other := slices.DeleteFunc(slices.Clone(found), func(n ident.Number) bool {
			return n == k.number || slices.Contains(k.settled, n)
		})
		if len(other) > 0 {
			k.warning = "other-number"
			k.choices = append([]ident.Number{k.number}, other...)
		}
	}
}

// Choose decides which number the document goes to when the pages
// disagree with the number given: i indexes View.Choices.
func (k *Kiosk) Choose(i int) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	defer k.changed()
	if k.state != Review || i < 0 || i >= len(k.choices) {
		return ErrState
	}
	k.act()
	k.settled = append(k.settled, k.choices...)
	if n := k.choices[i]; n != k.number {
		k.number, k.prefilled = n, true
	}
	k.checkCodes()
	k.event("visit.number-chosen")
	return nil
}

// Toggle keeps or removes page i (the customer undoing a blank-page
// removal, or dropping a page).
func (k *Kiosk) Toggle(i int) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	defer k.changed()
	if k.state != Review || i < 0 || i >= len(k.pages) {
		return ErrState
	}
	k.act()
	k.kept[i] = !k.kept[i]
	return nil
}

// StillHere answers the idle warning: the visit goes on.
func (k *Kiosk) StillHere() {
	k.mu.Lock()
	defer k.mu.Unlock()
	defer k.changed()
	k.touch()
}

// SetLanguage sets the customer's language for the printed receipt (the
// UI's language code); the visit's end resets it.
func (k *Kiosk) SetLanguage(lang string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.lang = lang
}

// Dismiss acknowledges the error shown.
func (k *Kiosk) Dismiss() {
	k.mu.Lock()
	defer k.mu.Unlock()
	defer k.changed()
	k.act()
}

// MaxThumbWidth bounds a thumbnail's width in pixels: enough for the
// review screen, too small to read a page from.
const MaxThumbWidth = 2 * document.ThumbWidth

// ErrNoCapability is returned by Thumbnail for a missing or wrong
// capability, or a width above MaxThumbWidth.
var ErrNoCapability = errors.New("session: no such thumbnail")

// Thumbnail returns page i of the preview as PNG, width pixels wide (at
// most MaxThumbWidth). capability is the visit's View.Thumbs; without it
// the answer is ErrNoCapability, so nothing that has not been shown the
// visit can read its pages. It renders outside the lock.
func (k *Kiosk) Thumbnail(capability string, i, width int) ([]byte, error) {
	k.mu.Lock()
	if k.thumbCap == "" || subtle.ConstantTimeCompare([]byte(capability), []byte(k.thumbCap)) != 1 || width > MaxThumbWidth {
		k.mu.Unlock()
		return nil, ErrNoCapability
	}
	preview, gen := k.preview, k.gen
	if preview == "" || i < 0 || i >= len(k.pages) {
		k.mu.Unlock()
		return nil, ErrState
	}
	if b, ok := k.thumbs[i]; ok && width == document.ThumbWidth {
		k.mu.Unlock()
		return b, nil
	}
	k.mu.Unlock()
	b, err := document.Thumbnail(preview, i, width)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.gen != gen || k.preview != preview {
		return nil, ErrState // wiped or rebuilt meanwhile
	}
	if width == document.ThumbWidth {
		k.thumbs[i] = b
	}
	return b, nil
}

// Confirm builds the PDF of the kept pages and hands it to the Submitter.
// When it returns a Receipt, the document is safe in the outbox. The work
// runs outside the lock: the UI shows Submitting meanwhile.
func (k *Kiosk) Confirm(ctx context.Context) (Receipt, error) {
	k.mu.Lock()
	if k.state != Review {
		k.mu.Unlock()
		return Receipt{}, ErrState
	}
	k.act()
	var pages []document.Page
	for i, p := range k.pages {
		if k.kept[i] {
			pages = append(pages, p)
		}
	}
	var err error
	switch {
	case k.number.IsZero():
		err = ErrNoNumber
	case len(pages) == 0:
		err = ErrNoPages
	case len(k.choices) > 0:
		err = ErrChoose
	}
	if err != nil {
		k.err = err
		k.changed()
		k.mu.Unlock()
		return Receipt{}, err
	}
	k.state = Submitting
	number, dir, visit := k.number, k.folder, k.visit
	k.changed()
	k.mu.Unlock()

	rc, err := k.submit(ctx, dir, number, pages)

	k.mu.Lock()
	defer k.mu.Unlock()
	defer k.changed()
	if k.visit != visit {
		return Receipt{}, ErrState
	}
	if err != nil {
		// Not accepted: the customer keeps the review screen and is told.
		k.state = Review
		k.err = err
		k.touch()
		return Receipt{}, err
	}
	if rc.Masked == "" { // what the receipt shows, where the Submitter left it out
		rc.Masked, rc.Team, rc.Pages = number.Masked(), string(number.Team()), len(pages)
	}
	lang := k.lang
	k.wipe()
	k.lang = lang // the receipt screen is still this customer's
	k.visits.Add(1)
	k.pagesSent.Add(int64(len(pages)))
	k.state = Done
	k.visit = randomHex(8)
	k.receipt = &rc
	k.deadline = k.cfg.Now().Add(k.cfg.DoneTimeout)
	k.event("visit.submitted")
	k.startPrint()
	return rc, nil
}

// submit builds, hashes and hands over the document (outside the lock).
func (k *Kiosk) submit(ctx context.Context, dir document.Folder, number ident.Number, pages []document.Page) (Receipt, error) {
	path, err := k.writePDF(dir, "document.pdf", pages)
	if err != nil {
		return Receipt{}, err
	}
	sum, size, err := hashFile(path)
	if err != nil {
		return Receipt{}, err
	}
	return k.cfg.Submitter.Submit(ctx, Document{Number: number, PDF: path, Pages: len(pages),
		Size: size, SHA256: sum, Scanned: k.cfg.Now()})
}

// startPrint prints the receipt in the background. Caller holds k.mu.
func (k *Kiosk) startPrint() {
	if k.cfg.Printer == nil || k.receipt == nil || k.printing {
		return
	}
	rc, visit, lang := *k.receipt, k.visit, k.lang
	k.printing, k.printErr = true, nil
	go func() {
		// The labels (a message catalogue to read) and the printing run
		// outside the lock.
		labels := printer.German
		if k.cfg.Labels != nil {
			labels = k.cfg.Labels(lang)
		}
		pr := printer.Receipt{Office: k.cfg.Office, Kiosk: k.cfg.KioskName, Time: rc.Accepted, Masked: rc.Masked,
			Team: rc.Team, Pages: rc.Pages, Code: rc.Number, QR: rc.QR(), Labels: labels}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := k.cfg.Printer.Print(ctx, pr)
		if err != nil {
			k.log.Warn("session: receipt not printed", "key", ErrorKey(err))
		}
		k.mu.Lock()
		defer k.mu.Unlock()
		defer k.changed()
		if k.visit != visit {
			return
		}
		k.printing, k.printErr = false, err
		k.printed = k.printed || err == nil
	}()
}

// Reprint prints the receipt again ("Quittung drucken").
func (k *Kiosk) Reprint() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	defer k.changed()
	if k.state != Done || k.receipt == nil || k.cfg.Printer == nil {
		return ErrState
	}
	k.deadline = k.cfg.Now().Add(k.cfg.DoneTimeout)
	k.startPrint()
	return nil
}

func hashFile(path string) ([32]byte, int64, error) {
	var sum [32]byte
	f, err := os.Open(path)
	if err != nil {
		return sum, 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	copy(sum[:], h.Sum(nil))
	return sum, n, err
}

// Counts returns how many visits were submitted and with how many pages,
// since start (for telemetry; no personal data).
func (k *Kiosk) Counts() (visits, pages int64) { return k.visits.Load(), k.pagesSent.Load() }

// Cancel ends the visit and wipes it. While the document is being
// submitted it refuses (the document may already be in the outbox).
func (k *Kiosk) Cancel() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	defer k.changed()
	if k.state == Submitting {
		return ErrState
	}
	if k.cancel != nil {
		k.cancel()
	}
	k.wipe()
	k.state = Idle
	k.event("visit.cancelled")
	return nil
}

// Tick ends a visit whose time is up and runs the countdowns; call it
// every second or so.
func (k *Kiosk) Tick() {
	var perr error
	if k.cfg.Printer != nil { // asked outside the lock: it is the device's I/O
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		perr = printer.Ready(ctx, k.cfg.Printer)
		cancel()
	}
	// A claim that runs out starts the new number's visit: admission is
	// asked first, outside the lock.
	// So is a refusal still on the idle screen: once the kiosk can accept
	// again, its reason is gone, and the next person must not read it.
	k.mu.Lock()
	asked := k.state == Claim
	refused := k.state == Idle && errors.Is(k.err, ErrCannotAccept)
	k.mu.Unlock()
	var can error
	if asked || refused {
		can = k.admission()
	}
	k.mu.Lock()
	if (perr == nil) != (k.printerErr == nil) {
		k.changed()
	}
	k.printerErr = perr
	defer k.mu.Unlock()
	now := k.cfg.Now()
	switch k.state {
	case Idle:
		if refused && can == nil && errors.Is(k.err, ErrCannotAccept) {
			k.err = nil
			k.changed()
		}
		return
	case Scanning, Submitting:
		return
	case Claim:
		if !now.Before(k.claimEnd) && asked { // (a claim begun meanwhile ends at the next Tick)
			k.handOver(can)
			k.changed()
		} else if s := secondsUntil(now, k.claimEnd); s != k.shown {
			k.shown = s
			k.changed()
		}
		return
	case Done:
		if !now.Before(k.deadline) {
			k.wipe()
			k.state = Idle
			k.changed()
		}
		return
	}
	end := k.deadline.Add(k.cfg.WarnTimeout)
	switch {
	case !now.Before(end):
		k.event("visit.timeout")
		k.wipe()
		k.state = Idle
		k.changed()
	case !now.Before(k.deadline):
		if s := secondsUntil(now, end); s != k.shown {
			k.shown = s
			k.changed()
		}
	}
}

func secondsUntil(now, t time.Time) int {
	return int((t.Sub(now) + time.Second - 1) / time.Second)
}

// wipe removes the visit's pages and forgets everything the customer gave
// or saw. Caller holds k.mu.
func (k *Kiosk) wipe() {
	if k.folder != nil {
		if err := k.folder.Close(); err != nil {
			k.log.Error("session: wipe failed", "err", err)
		}
	}
	k.folder, k.thumbCap = nil, ""
	k.pages, k.kept, k.preview, k.thumbs, k.visit, k.missing = nil, nil, "", nil, "", nil
	k.number, k.prefilled, k.warning, k.err, k.receipt = ident.Number{}, false, "", nil, nil
	k.typed, k.claim, k.choices, k.settled, k.stopping = ident.Number{}, ident.Number{}, nil, nil, false
	k.printing, k.printed, k.printErr, k.shown, k.lang = false, false, nil, 0, ""
}

// HoldLock takes the visit's lock and keeps it until release is called.
// It is a test seam only; nothing in the kiosk calls it. No part the visit
// calls under its lock can block (slow work runs outside it), so a test
// that shows what a visit that no longer answers does — the UI's /healthz
// answers 503, the watchdog is no longer petted — holds the lock itself,
// as a deadlock would. release may be called more than once.
func (k *Kiosk) HoldLock() (release func()) {
	k.mu.Lock()
	var once sync.Once
	return func() { once.Do(k.mu.Unlock) }
}

// View returns what the UI shows now.
func (k *Kiosk) View() View {
	k.mu.Lock()
	defer k.mu.Unlock()
	var printerKey string
	if k.printerErr != nil {
		printerKey = ErrorKey(k.printerErr)
	}
	v := View{State: k.state, Warning: k.warning, Receipt: k.receipt, Preview: k.gen, Pages: []PageView{},
		Stopping: k.stopping, Printing: k.printing, Printed: k.printed, Visit: k.visit, Missing: slices.Clone(k.missing), Seq: k.seq,
		Thumbs: k.thumbCap}
	if v.Missing == nil || k.state == Claim {
		v.Missing = []MissingPage{}
	}
	if k.state == Idle || k.state == Checking || k.state == Identified {
		v.PrinterKey = printerKey
	}
	if k.printErr != nil {
		v.PrintErrorKey = ErrorKey(k.printErr)
	}
	if !k.number.IsZero() && k.state != Claim { // the claimant sees nothing of the pages' owner
		v.Masked, v.Kind, v.Prefilled = k.number.Masked(), k.number.Kind().String(), k.prefilled
	}
	if k.state == Checking {
		v.Typed = k.typed.Display()
	}
	now := k.cfg.Now()
	switch k.state {
	case Claim:
		v.ClaimMasked = k.claim.Masked()
		v.Countdown = secondsUntil(now, k.claimEnd)
	case Checking, Identified, Review:
		if !now.Before(k.deadline) {
			v.IdleWarning = true
			v.Countdown = secondsUntil(now, k.deadline.Add(k.cfg.WarnTimeout))
		}
	}
	for i, n := range k.choices {
		v.Choices = append(v.Choices, Choice{Index: i, Masked: n.MaskedApart(k.choices...), FromPages: i > 0})
	}
	for i, p := range k.pages {
		if k.state == Claim {
			break
		}
		v.Pages = append(v.Pages, PageView{Index: i, Sheet: p.Sheet, Side: p.Side.String(), Blank: p.Blank, Kept: k.kept[i]})
		if k.kept[i] {
			v.Kept++
		}
	}
	v.Scanned = len(k.pages)
	if k.err != nil {
		v.Error, v.ErrorKey = k.err.Error(), ErrorKey(k.err)
	}
	return v
}

// errorKeys name errors for the UI's message catalogue, most specific
// first.
var errorKeys = []struct {
	err error
	key string
}{
	{ErrNotNumber, "not-a-number"},
	{scanner.ErrJam, "jam"}, {scanner.ErrFeederEmpty, "feeder-empty"}, {scanner.ErrCoverOpen, "cover-open"},
	{scanner.ErrDoubleFeed, "double-feed"}, {scanner.ErrPageTooLong, "page-too-long"}, {scanner.ErrBusy, "busy"}, {scanner.ErrOffline, "offline"},
	{scanner.ErrUnplugged, "unplugged"}, {scanner.ErrStalled, "stalled"}, {scanner.ErrStopped, "stopped"},
	{ErrOneSheet, "one-sheet"}, {ErrIncomplete, "incomplete"}, {ErrCannotAccept, "cannot-accept"}, {ErrNoPages, "no-pages"},
	{ident.ErrInvalid, "invalid-number"}, {ident.ErrEmpty, "invalid-number"}, {ident.ErrTooLong, "invalid-number"},
	{ErrNoNumber, "no-number"}, {ErrChoose, "choose-number"},
	{printer.ErrPaperOut, "printer-paper"}, {printer.ErrCoverOpen, "printer-cover"},
	{printer.ErrOffline, "printer"}, {printer.ErrReceipt, "printer"},
}

// ErrorKey names an error for the UI's message catalogue ("error" for
// one it does not know).
func ErrorKey(err error) string {
	for _, e := range errorKeys {
		if errors.Is(err, e.err) {
			return e.key
		}
	}
	return "error"
}

// ErrorKeys lists every key ErrorKey returns, for the catalogues' tests.
func ErrorKeys() []string {
	keys := []string{"error"}
	for _, e := range errorKeys {
		if !slices.Contains(keys, e.key) {
			keys = append(keys, e.key)
		}
	}
	return keys
}

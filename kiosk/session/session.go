// Package session is one customer's visit at the kiosk: identify, scan,
// review, confirm. It owns the plaintext pages of the visit in a private
// folder and wipes them when the visit ends — confirmed, cancelled or timed
// out. A confirmed document goes to a Submitter; only when that returns is
// the customer told it was accepted.
//
// States:
//
//	Idle ─Identify→ Identified ─Scan→ Scanning → Review ─Confirm→ Submitting → Done
//	                     ▲                          │ Scan (more pages)
//	                     └──────────────────────────┘
//	any state ─Cancel or idle time-out→ Idle (wiped)
package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/kiosk/document"
	"github.com/einwurf/einwurf/kiosk/ident"
)

// State is the state of the visit.
type State string

// States of a visit.
const (
	Idle       State = "idle"
	Identified State = "identified"
	Scanning   State = "scanning"
	Review     State = "review"
	Submitting State = "submitting"
	Done       State = "done"
)

// Errors the UI explains.
var (
	ErrState        = errors.New("session: not possible now")
	ErrNoPages      = errors.New("session: no pages to send")
	ErrNoNumber     = errors.New("session: no customer number given")
	ErrCannotAccept = errors.New("session: the kiosk cannot accept documents now")
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
	// WorkDir holds the visits' private folders (mode 0700).
	WorkDir  string
	Settings scanner.Settings
	Document document.Options
	// RemoveBlank leaves pages judged blank out of the document unless the
	// customer puts them back on the review screen.
	RemoveBlank bool
	// IdleTimeout ends a visit nobody touches (default 3 minutes).
	IdleTimeout time.Duration
	// DoneTimeout returns from the receipt screen to Idle (default 30s).
	DoneTimeout time.Duration
	// CanAccept is asked before scanning; an error means the kiosk must
	// not take paper (disk full, outbox in alarm). May be nil.
	CanAccept func() error
	// OnEvent is told of visit events (no personal data). May be nil.
	OnEvent func(name string)
	Now     func() time.Time
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

// View is what the UI shows. It holds the masked number only.
type View struct {
	State  State  `json:"state"`
	Masked string `json:"masked,omitempty"`
	// Prefilled says the number was read from the pages' barcode.
	Prefilled bool       `json:"prefilled,omitempty"`
	Kind      string     `json:"kind,omitempty"`
	Pages     []PageView `json:"pages"`
	Scanned   int        `json:"scanned"`
	Kept      int        `json:"kept"`
	Warning   string     `json:"warning,omitempty"`
	// Missing lists the pages dropped in this visit, in sheet order; it
	// stays until their sheet is rescanned or the visit ends.
	Missing  []MissingPage `json:"missing"`
	Error    string        `json:"error,omitempty"`
	ErrorKey string        `json:"error_key,omitempty"`
	Receipt  *Receipt      `json:"receipt,omitempty"`
	Preview  int           `json:"preview"` // generation of the preview PDF, for thumbnail caching
}

// Kiosk runs one visit at a time. Its methods are safe for concurrent use.
type Kiosk struct {
	cfg Config
	mu  sync.Mutex

	state   State
	number  ident.Number
	dir     string
	pages   []document.Page
	kept    []bool
	preview string // PDF of all pages, for thumbnails
	gen     int
	thumbs  map[int][]byte
	warning string
	missing []MissingPage
	// prefilled: the number came from a barcode on the pages, not from
	// the customer; the review screen asks them to check it.
	prefilled bool
	err       error
	receipt   *Receipt
	deadline  time.Time
	cancel    context.CancelFunc

	visits, pagesSent atomic.Int64 // submitted, for telemetry
}

// New returns a Kiosk in the Idle state. It wipes visit folders left over
// from before a crash.
func New(cfg Config) (*Kiosk, error) {
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 3 * time.Minute
	}
	if cfg.DoneTimeout <= 0 {
		cfg.DoneTimeout = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.RemoveAll(cfg.WorkDir); err != nil {
		return nil, fmt.Errorf("session: wipe leftovers: %w", err)
	}
	if err := os.MkdirAll(cfg.WorkDir, 0o700); err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	return &Kiosk{cfg: cfg, state: Idle}, nil
}

func (k *Kiosk) event(name string) {
	if k.cfg.OnEvent != nil {
		k.cfg.OnEvent(name)
	}
}

func (k *Kiosk) touch() { k.deadline = k.cfg.Now().Add(k.cfg.IdleTimeout) }

// Identify starts a visit with the number read or typed. In Identified or
// Review it replaces the number (the customer corrected it).
func (k *Kiosk) Identify(raw string) error {
	n, err := ident.Parse(raw)
	if err != nil {
		k.event("ident.invalid")
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	switch k.state {
	case Idle, Done:
		if err := k.startVisit(); err != nil {
			return err
		}
		k.state = Identified
	case Identified, Review:
	default:
		return ErrState
	}
	k.number = n
	k.prefilled = false
	k.err = nil
	k.touch()
	k.checkCodes()
	k.event("visit.identified")
	return nil
}

// startVisit forgets the previous visit and makes the new one's private
// folder, named at random (no personal data). Caller holds k.mu.
func (k *Kiosk) startVisit() error {
	k.wipe()
	dir := filepath.Join(k.cfg.WorkDir, "visit-"+randomHex(8))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("session: %w", err)
	}
	k.dir = dir
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
// or when ctx ends. From Idle it starts a visit without a number: a number
// found in a barcode on the pages fills it in, else the customer gives it
// on the review screen before sending.
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
	k.mu.Lock()
	if k.state != Identified && k.state != Review && k.state != Idle && k.state != Done ||
		rescan > 0 && k.state != Review {
		k.mu.Unlock()
		return ErrState
	}
	if k.cfg.CanAccept != nil {
		if err := k.cfg.CanAccept(); err != nil {
			k.err = fmt.Errorf("%w: %v", ErrCannotAccept, err)
			k.mu.Unlock()
			return ErrCannotAccept
		}
	}
	if k.state == Idle || k.state == Done {
		if err := k.startVisit(); err != nil {
			k.mu.Unlock()
			return err
		}
	}
	k.state = Scanning
	k.err = nil
	ctx, cancel := context.WithCancel(ctx)
	k.cancel = cancel
	dir := k.dir
	// Sheet numbers restart with each job; keep them unique per visit.
	offset := k.lastSheet()
	k.mu.Unlock()
	defer cancel()

	var err error
	if rescan > 0 {
		err = k.rescan(ctx, dir, rescan)
	} else {
		err = k.scan(ctx, dir, offset)
	}

	k.mu.Lock()
	defer k.mu.Unlock()
	k.cancel = nil
	if k.state != Scanning { // cancelled meanwhile
		return ErrState
	}
	k.state = Review
	if err != nil {
		k.err = err
	}
	if perr := k.buildPreview(); perr != nil && err == nil {
		err = perr
		k.err = perr
	}
	k.checkCodes()
	k.touch()
	k.event("visit.scanned")
	return err
}

// scan appends the pages of one job to the visit, their sheets numbered
// after offset.
func (k *Kiosk) scan(ctx context.Context, dir string, offset int) error {
	return k.feed(ctx, dir, func(p *scanner.Page) error {
		p.Sheet += offset
		return nil
	}, func(pg *document.Page, m *MissingPage) {
		if pg != nil {
			k.pages = append(k.pages, *pg)
			k.kept = append(k.kept, !pg.Blank || !k.cfg.RemoveBlank)
		} else {
			k.missing = append(k.missing, *m)
		}
	})
}

// rescan replaces the pages of one sheet with the first sheet of a job.
func (k *Kiosk) rescan(ctx context.Context, dir string, sheet int) error {
	var pages []document.Page
	var missing []MissingPage
	err := k.feed(ctx, dir, func(p *scanner.Page) error {
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
	slices.SortStableFunc(k.missing, func(a, b MissingPage) int { return a.Sheet - b.Sheet })
	return err
}

// feed runs one scan job: each page is numbered by number (which may end
// the job with an error), read, and handed to add as a page or, if it
// could not be read, as a missing page (add runs under k.mu). It returns
// nil only at the job's normal end: a dropped connection, a stalled or
// stopped scanner is an error, never the end of the job.
func (k *Kiosk) feed(ctx context.Context, dir string, number func(*scanner.Page) error, add func(*document.Page, *MissingPage)) error {
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
		pg, err := document.Ingest(ctx, dir, p, k.cfg.Document)
		p.Body.Close()
		k.mu.Lock()
		if err != nil {
			// One bad page: keep the rest, go on, and name it on the
			// review screen so the customer can rescan it.
			slog.Warn("session: page rejected", "sheet", p.Sheet, "side", p.Side.String(), "err", err)
			add(nil, &MissingPage{Sheet: p.Sheet, Side: p.Side.String()})
		} else {
			add(&pg, nil)
		}
		k.touch()
		k.mu.Unlock()
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// buildPreview writes a PDF of all pages; thumbnails are rendered from it
// so the customer sees what the central will file. Caller holds k.mu.
func (k *Kiosk) buildPreview() error {
	if len(k.pages) == 0 {
		return nil
	}
	path := filepath.Join(k.dir, "preview.pdf")
	if err := k.writePDF(path, k.pages); err != nil {
		return err
	}
	k.preview = path
	k.gen++
	k.thumbs = map[int][]byte{}
	return nil
}

func (k *Kiosk) writePDF(path string, pages []document.Page) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("session: %w", err)
	}
	_, err = document.Build(context.Background(), f, pages, document.Meta{
		Title: "Einwurf", DocumentID: randomHex(16), Created: k.cfg.Now(), Producer: "Einwurf kiosk"})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// checkCodes compares numbers found in barcodes on the pages with the
// number given, or fills the number in when none was given and the pages
// agree on one. Caller holds k.mu.
func (k *Kiosk) checkCodes() {
	k.warning = ""
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
	case slices.ContainsFunc(found, func(n ident.Number) bool { return n != k.number }):
		k.warning = "other-number"
	}
}

// Toggle keeps or removes page i (the customer undoing a blank-page
// removal, or dropping a page).
func (k *Kiosk) Toggle(i int) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.state != Review || i < 0 || i >= len(k.pages) {
		return ErrState
	}
	k.kept[i] = !k.kept[i]
	k.touch()
	return nil
}

// Thumbnail returns page i of the preview as PNG, width pixels wide.
func (k *Kiosk) Thumbnail(i, width int) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.preview == "" || i < 0 || i >= len(k.pages) {
		return nil, ErrState
	}
	if b, ok := k.thumbs[i]; ok {
		return b, nil
	}
	b, err := document.Thumbnail(k.preview, i, width)
	if err != nil {
		return nil, err
	}
	k.thumbs[i] = b
	return b, nil
}

// Confirm builds the PDF of the kept pages and hands it to the Submitter.
// When it returns a Receipt, the document is safe in the outbox.
func (k *Kiosk) Confirm(ctx context.Context) (Receipt, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.state != Review {
		return Receipt{}, ErrState
	}
	if k.number.IsZero() {
		return Receipt{}, ErrNoNumber
	}
	var pages []document.Page
	for i, p := range k.pages {
		if k.kept[i] {
			pages = append(pages, p)
		}
	}
	if len(pages) == 0 {
		return Receipt{}, ErrNoPages
	}
	k.state = Submitting
	path := filepath.Join(k.dir, "document.pdf")
	if err := k.writePDF(path, pages); err != nil {
		k.state = Review
		k.err = err
		return Receipt{}, err
	}
	sum, size, err := hashFile(path)
	if err != nil {
		k.state = Review
		return Receipt{}, err
	}
	rc, err := k.cfg.Submitter.Submit(ctx, Document{Number: k.number, PDF: path, Pages: len(pages),
		Size: size, SHA256: sum, Scanned: k.cfg.Now()})
	if err != nil {
		// Not accepted: the customer keeps the review screen and is told.
		k.state = Review
		k.err = err
		k.touch()
		return Receipt{}, err
	}
	k.wipe()
	k.visits.Add(1)
	k.pagesSent.Add(int64(len(pages)))
	k.state = Done
	k.receipt = &rc
	k.deadline = k.cfg.Now().Add(k.cfg.DoneTimeout)
	k.event("visit.submitted")
	return rc, nil
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

// Cancel ends the visit and wipes it.
func (k *Kiosk) Cancel() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cancel != nil {
		k.cancel()
	}
	k.wipe()
	k.state = Idle
	k.event("visit.cancelled")
}

// Tick ends a visit whose time is up; call it every second or so.
func (k *Kiosk) Tick() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.state == Idle || k.state == Scanning || k.state == Submitting || k.cfg.Now().Before(k.deadline) {
		return
	}
	if k.state != Done {
		k.event("visit.timeout")
	}
	k.wipe()
	k.state = Idle
}

// wipe removes the visit's pages and forgets the number. Caller holds k.mu.
func (k *Kiosk) wipe() {
	if k.dir != "" {
		if err := os.RemoveAll(k.dir); err != nil {
			slog.Error("session: wipe failed", "err", err)
		}
	}
	k.dir, k.pages, k.kept, k.preview, k.thumbs, k.missing = "", nil, nil, "", nil, nil
	k.number, k.prefilled, k.warning, k.err, k.receipt = ident.Number{}, false, "", nil, nil
}

// View returns what the UI shows now.
func (k *Kiosk) View() View {
	k.mu.Lock()
	defer k.mu.Unlock()
	v := View{State: k.state, Warning: k.warning, Receipt: k.receipt, Preview: k.gen, Pages: []PageView{},
		Missing: slices.Clone(k.missing)}
	if v.Missing == nil {
		v.Missing = []MissingPage{}
	}
	if !k.number.IsZero() {
		v.Masked, v.Kind, v.Prefilled = k.number.Masked(), k.number.Kind().String(), k.prefilled
	}
	for i, p := range k.pages {
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

// ErrorKey names an error for the UI's message catalogue.
func ErrorKey(err error) string {
	for _, e := range []struct {
		err error
		key string
	}{
		{scanner.ErrJam, "jam"}, {scanner.ErrFeederEmpty, "feeder-empty"}, {scanner.ErrCoverOpen, "cover-open"},
		{scanner.ErrDoubleFeed, "double-feed"}, {scanner.ErrBusy, "busy"}, {scanner.ErrOffline, "offline"},
		{scanner.ErrUnplugged, "unplugged"}, {scanner.ErrStalled, "stalled"}, {scanner.ErrStopped, "stopped"},
		{ErrOneSheet, "one-sheet"}, {ErrIncomplete, "incomplete"}, {ErrCannotAccept, "cannot-accept"}, {ErrNoPages, "no-pages"},
		{ident.ErrInvalid, "invalid-number"}, {ident.ErrEmpty, "invalid-number"}, {ErrNoNumber, "no-number"},
	} {
		if errors.Is(err, e.err) {
			return e.key
		}
	}
	return "error"
}

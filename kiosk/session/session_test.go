package session

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/drivers/scanner/escl"
	"github.com/einwurf/einwurf/drivers/scanner/sim"
	"github.com/einwurf/einwurf/kiosk/document"
	"github.com/einwurf/einwurf/kiosk/ident"
)

// recorder is a Submitter that keeps a copy of what it was given.
type recorder struct {
	mu   sync.Mutex
	docs []Document
	pdfs [][]byte
	err  error
}

func (r *recorder) Submit(_ context.Context, d Document) (Receipt, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return Receipt{}, r.err
	}
	b, err := os.ReadFile(d.PDF)
	if err != nil {
		return Receipt{}, err
	}
	r.docs = append(r.docs, d)
	r.pdfs = append(r.pdfs, b)
	return Receipt{PacketID: "p1", Number: "P1", Accepted: time.Now()}, nil
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func setup(t *testing.T, o sim.Options) (*Kiosk, *recorder, *clock, string, *sim.Server) {
	t.Helper()
	srv, err := sim.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	rec := &recorder{}
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	work := filepath.Join(t.TempDir(), "visits")
	k, err := New(Config{Scanner: escl.New(&http.Client{}, srv.URL()), Submitter: rec, WorkDir: work,
		Settings:    scanner.Settings{Source: scanner.SourceFeeder, Duplex: true, Resolution: 150, ColorMode: scanner.ColorRGB24, Format: scanner.FormatJPEG},
		Document:    document.DefaultOptions(),
		RemoveBlank: true, IdleTimeout: time.Minute, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	return k, rec, clk, work, srv
}

// entries counts the visit folders held: one while a visit has its folder
// (in memory), none after. Any file on disk under the work folder is an
// error: pages never go there.
func entries(t *testing.T, k *Kiosk, work string) int {
	t.Helper()
	filepath.WalkDir(work, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Errorf("a file on disk: %s", path)
		}
		return nil
	})
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.folder != nil {
		return 1
	}
	return 0
}
func TestVisit(t *testing.T) {
	k, rec, _, work, _ := setup(t, sim.Options{Sheets: 2, Duplex: true, Code: "035F083761", BlankBacks: []int{2}})
	ctx := context.Background()
	if err := k.Identify("12"); !errors.Is(err, ident.ErrInvalid) {
		t.Fatalf("bad number: %v", err)
	}
	if k.View().State != Idle {
		t.Fatal("a bad number started a visit")
	}
	if _, err := k.Confirm(ctx); !errors.Is(err, ErrState) {
		t.Fatalf("confirm in idle: %v", err)
	}
	if err := k.Identify("035f083761"); err != nil {
		t.Fatal(err)
	}
	if v := k.View(); v.State != Identified || v.Masked != "035F****61" {
		t.Fatalf("view %+v", v)
	}
	if err := k.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	v := k.View()
	if v.State != Review || v.Scanned != 4 || v.Kept != 3 || v.Warning != "" {
		t.Fatalf("after scan: %+v", v)
	}
	if !v.Pages[3].Blank || v.Pages[3].Kept || v.Pages[3].Sheet != 2 || v.Pages[3].Side != "back" {
		t.Fatalf("blank back of sheet 2: %+v", v.Pages[3])
	}
	png, err := k.Thumbnail(v.Thumbs, 0, 200)
	if err != nil || len(png) < 100 || string(png[1:4]) != "PNG" {
		t.Fatalf("thumbnail: %v (%d bytes)", err, len(png))
	}
	// Without the visit's capability, or larger than the cap: nothing.
	for _, c := range []struct {
		cap   string
		width int
	}{{"", 200}, {v.Thumbs[:len(v.Thumbs)-1] + "x", 200}, {v.Thumbs, MaxThumbWidth + 1}, {v.Thumbs, 1200}} {
		if b, err := k.Thumbnail(c.cap, 0, c.width); !errors.Is(err, ErrNoCapability) || b != nil {
			t.Fatalf("thumbnail with capability %q width %d: %v", c.cap, c.width, err)
		}
	}
	// The customer puts the blank page back, then drops page 2.
	if err := k.Toggle(3); err != nil {
		t.Fatal(err)
	}
	if err := k.Toggle(1); err != nil {
		t.Fatal(err)
	}
	if v := k.View(); v.Kept != 3 || !v.Pages[3].Kept || v.Pages[1].Kept {
		t.Fatalf("after toggles: %+v", v)
	}
	rc, err := k.Confirm(ctx)
	if err != nil || rc.Number != "P1" {
		t.Fatalf("confirm: %+v %v", rc, err)
	}
	d := rec.docs[0]
	if d.Number.String() != "035F083761" || d.Pages != 3 || d.Size != int64(len(rec.pdfs[0])) {
		t.Fatalf("document %+v", d)
	}
	if v := k.View(); v.State != Done || v.Receipt == nil || v.Masked != "" || len(v.Pages) != 0 {
		t.Fatalf("after confirm: %+v", v)
	}
	if n := entries(t, k, work); n != 0 {
		t.Fatalf("the visit left %d entries in the work folder", n)
	}
	if visits, pages := k.Counts(); visits != 1 || pages != 3 {
		t.Fatalf("counts %d visits, %d pages", visits, pages)
	}
}

func TestSubmitFailureKeepsReview(t *testing.T) {
	k, rec, _, _, _ := setup(t, sim.Options{Sheets: 1, Duplex: true})
	rec.err = errors.New("disk full")
	k.Identify("03510//0961289")
	if err := k.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Confirm(context.Background()); err == nil {
		t.Fatal("confirm succeeded with a failing submitter")
	}
	if v := k.View(); v.State != Review || v.Receipt != nil || v.Error == "" {
		t.Fatalf("view %+v", v)
	}
	rec.err = nil
	if _, err := k.Confirm(context.Background()); err != nil {
		t.Fatalf("retry: %v", err)
	}
}

func TestJamKeepsEarlierPages(t *testing.T) {
	k, _, _, _, _ := setup(t, sim.Options{Sheets: 3, Duplex: true, JamAtSheet: 2})
	k.Identify("035F083761")
	err := k.Scan(context.Background())
	if !errors.Is(err, scanner.ErrJam) {
		t.Fatalf("scan: %v", err)
	}
	v := k.View()
	if v.State != Review || v.ErrorKey != "jam" || v.Scanned != 2 {
		t.Fatalf("view %+v", v)
	}
}

func TestCannotAccept(t *testing.T) {
	k, _, _, _, _ := setup(t, sim.Options{Sheets: 1})
	k.cfg.CanAccept = func() error { return errors.New("spool full") }
	k.Identify("035F083761")
	if err := k.Scan(context.Background()); !errors.Is(err, ErrCannotAccept) {
		t.Fatalf("scan: %v", err)
	}
	if v := k.View(); v.ErrorKey != "cannot-accept" || v.Scanned != 0 {
		t.Fatalf("view %+v", v)
	}
}

func TestOtherNumberOnPages(t *testing.T) {
	k, _, _, _, _ := setup(t, sim.Options{Sheets: 1, Duplex: true, Code: "035F083761"})
	k.Identify("111A222333")
	k.Scan(context.Background())
	if v := k.View(); v.Warning != "other-number" {
		t.Fatalf("no warning for pages of another number: %+v", v)
	}
	// The customer must choose; choosing the pages' number clears it.
	if _, err := k.Confirm(context.Background()); !errors.Is(err, ErrChoose) {
		t.Fatalf("confirm before choosing: %v", err)
	}
	if err := k.Choose(1); err != nil {
		t.Fatal(err)
	}
	if v := k.View(); v.Warning != "" || len(v.Choices) != 0 || v.Masked != "035F****61" {
		t.Fatalf("after choosing: %+v", v)
	}
}

func TestTimeoutAndCancelWipe(t *testing.T) {
	k, _, clk, work, _ := setup(t, sim.Options{Sheets: 1, Duplex: true})
	k.Identify("035F083761")
	k.Scan(context.Background())
	if entries(t, k, work) != 1 {
		t.Fatal("no visit folder while scanning")
	}
	clk.t = clk.t.Add(30 * time.Second)
	k.Tick()
	if k.View().State != Review {
		t.Fatal("timed out early")
	}
	clk.t = clk.t.Add(31 * time.Second)
	k.Tick()
	if v := k.View(); v.State != Review || !v.IdleWarning || v.Countdown != 19 {
		t.Fatalf("no idle warning: %+v", v)
	}
	clk.t = clk.t.Add(19 * time.Second)
	k.Tick()
	if v := k.View(); v.State != Idle || v.Scanned != 0 || entries(t, k, work) != 0 {
		t.Fatalf("after time-out: %+v, %d entries", v, entries(t, k, work))
	}
	k.Identify("035F083761")
	k.Cancel()
	if v := k.View(); v.State != Idle || entries(t, k, work) != 0 {
		t.Fatalf("after cancel: %+v", v)
	}
}

func TestEmptyFeeder(t *testing.T) {
	k, rec, _, _, srv := setup(t, sim.Options{Sheets: 0, Duplex: true})
	k.Identify("035F083761")
	err := k.Scan(context.Background())
	if !errors.Is(err, scanner.ErrFeederEmpty) {
		t.Fatalf("scan with an empty feeder: %v", err)
	}
	// No page: back to the screen before, with the reason; nothing to send.
	if v := k.View(); v.State != Identified || v.ErrorKey != "feeder-empty" || v.Scanned != 0 {
		t.Fatalf("view %+v", v)
	}
	if _, err := k.Confirm(context.Background()); !errors.Is(err, ErrState) || len(rec.docs) != 0 {
		t.Fatalf("confirm without pages: %v", err)
	}
	// The kiosk stays usable: paper in, scan again.
	srv.Load(1)
	if err := k.Scan(context.Background()); err != nil {
		t.Fatalf("scan after loading paper: %v", err)
	}
	if v := k.View(); v.Scanned != 2 || v.ErrorKey != "" {
		t.Fatalf("view %+v", v)
	}
}

func TestPrefillFromCode(t *testing.T) {
	k, rec, _, _, _ := setup(t, sim.Options{Sheets: 1, Duplex: true, Code: "03510//0961289"})
	// The customer scans first, without giving a number.
	if err := k.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	v := k.View()
	if v.State != Review || v.Masked != "03510//****289" || !v.Prefilled || v.Kind != "BG-Nummer" {
		t.Fatalf("view %+v", v)
	}
	if _, err := k.Confirm(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := rec.docs[0].Number; n.String() != "03510BG0961289" {
		t.Fatalf("submitted under %s", n)
	}
}

func TestScanWithoutNumberAsksForIt(t *testing.T) {
	k, rec, _, _, _ := setup(t, sim.Options{Sheets: 1, Duplex: true})
	if err := k.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v := k.View(); v.Masked != "" || v.Prefilled {
		t.Fatalf("a number without a code: %+v", v)
	}
	if _, err := k.Confirm(context.Background()); !errors.Is(err, ErrNoNumber) || ErrorKey(err) != "no-number" {
		t.Fatalf("confirm without a number: %v", err)
	}
	if err := k.Identify("035F083761"); err != nil {
		t.Fatal(err)
	}
	if v := k.View(); v.State != Review || v.Scanned != 2 || v.Prefilled {
		t.Fatalf("after giving the number: %+v", v)
	}
	if _, err := k.Confirm(context.Background()); err != nil || len(rec.docs) != 1 {
		t.Fatalf("confirm: %v", err)
	}
}

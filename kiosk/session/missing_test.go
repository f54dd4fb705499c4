package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/drivers/scanner/scannertest"
	"github.com/einwurf/einwurf/kiosk/document"
)

// withDouble is a Kiosk over the scanner double (duplex, JPEG).
func withDouble(t *testing.T, s *scannertest.Scanner) (*Kiosk, *recorder) {
	t.Helper()
	rec := &recorder{}
	k, err := New(Config{Scanner: s, Submitter: rec, WorkDir: filepath.Join(t.TempDir(), "visits"),
		Settings: scanner.Settings{Source: scanner.SourceFeeder, Duplex: true, Resolution: 150, ColorMode: scanner.ColorGrayscale8, Format: scanner.FormatJPEG},
		Document: document.DefaultOptions(), IdleTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return k, rec
}

func sheetsOf(v View) []string {
	var s []string
	for _, p := range v.Pages {
		s = append(s, fmt.Sprintf("%d%s", p.Sheet, p.Side[:1]))
	}
	return s
}

// A page the kiosk could not read is named on the review screen, survives
// the barcode check (Identify, a new scan), and its sheet can be rescanned
// into its place before sending.
func TestDroppedPageIsShownAndRescanned(t *testing.T) {
	good := scannertest.Page(400, 560, false)
	s := &scannertest.Scanner{Pages: [][]byte{good, good, []byte("not an image"), good}}
	k, rec := withDouble(t, s)
	ctx := context.Background()
	if err := k.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	want := []MissingPage{{Sheet: 2, Side: "front"}}
	if v := k.View(); !slices.Equal(v.Missing, want) || v.Scanned != 3 {
		t.Fatalf("after scan: missing %v, %d pages", v.Missing, v.Scanned)
	}
	// Giving the number runs the barcode check; the missing page stays.
	if err := k.Identify("035F083761"); err != nil {
		t.Fatal(err)
	}
	if v := k.View(); !slices.Equal(v.Missing, want) {
		t.Fatalf("after Identify: missing %v", v.Missing)
	}
	if err := k.Rescan(ctx, 9); !errors.Is(err, ErrState) {
		t.Fatalf("rescan of a sheet the visit does not have: %v", err)
	}
	// The customer puts sheet 2 back in.
	s.Pages = [][]byte{good, scannertest.Page(400, 560, true)}
	if err := k.Rescan(ctx, 2); err != nil {
		t.Fatal(err)
	}
	v := k.View()
	if len(v.Missing) != 0 || !slices.Equal(sheetsOf(v), []string{"1f", "1b", "2f", "2b"}) {
		t.Fatalf("after rescan: missing %v, pages %v", v.Missing, sheetsOf(v))
	}
	if !v.Pages[3].Blank {
		t.Fatal("the rescanned back is not the new one")
	}
	// More sheets go on after the rescanned one.
	s.Pages = [][]byte{good, good}
	if err := k.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	if v := k.View(); !slices.Equal(sheetsOf(v), []string{"1f", "1b", "2f", "2b", "3f", "3b"}) {
		t.Fatalf("after a further scan: %v", sheetsOf(v))
	}
	if _, err := k.Confirm(ctx); err != nil || rec.docs[0].Pages != 6 {
		t.Fatalf("confirm: %v", err)
	}
}

// A rescan that feeds more than one sheet keeps the first and says so.
func TestRescanOneSheetOnly(t *testing.T) {
	good := scannertest.Page(400, 560, false)
	s := &scannertest.Scanner{Pages: [][]byte{[]byte("junk"), good, good, good}}
	k, _ := withDouble(t, s)
	ctx := context.Background()
	if err := k.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	s.Pages = [][]byte{good, good, good, good}
	if err := k.Rescan(ctx, 1); !errors.Is(err, ErrOneSheet) {
		t.Fatalf("rescan of two sheets: %v", err)
	}
	v := k.View()
	if v.ErrorKey != "one-sheet" || len(v.Missing) != 0 || !slices.Equal(sheetsOf(v), []string{"1f", "1b", "2f", "2b"}) {
		t.Fatalf("after rescan: %s, missing %v, pages %v", v.ErrorKey, v.Missing, sheetsOf(v))
	}
	if s.Canceled() != 1 {
		t.Fatalf("the rescan job was not cancelled (%d)", s.Canceled())
	}
}

// A connection dropped mid-job, even one whose error wraps io.EOF, is never
// the end of the job: the customer is told the scan did not finish.
func TestTransportFailureIsNotTheEnd(t *testing.T) {
	good := scannertest.Page(400, 560, false)
	for _, c := range []struct {
		name string
		err  error
		key  string
	}{
		{"url error over eof", &url.Error{Op: "Get", URL: "http://127.0.0.1/eSCL/ScanJobs/1/NextDocument", Err: io.EOF}, "incomplete"},
		{"offline", fmt.Errorf("escl: %w: %w", scanner.ErrOffline, io.EOF), "offline"},
		{"stalled", scanner.ErrStalled, "stalled"},
		{"stopped", scanner.ErrStopped, "stopped"},
		{"page too long", fmt.Errorf("escl: %w", scanner.ErrPageTooLong), "page-too-long"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &scannertest.Scanner{Pages: [][]byte{good, good, good, good}, FailErr: c.err, FailAt: 2}
			k, _ := withDouble(t, s)
			err := k.Scan(context.Background())
			if err == nil || !errors.Is(err, ErrIncomplete) {
				t.Fatalf("scan ended with %v", err)
			}
			if v := k.View(); v.State != Review || v.ErrorKey != c.key || v.Scanned != 2 {
				t.Fatalf("view: state %s, key %q, %d pages", v.State, v.ErrorKey, v.Scanned)
			}
		})
	}
}

// A duplex job that ends on a front (a device that scans simplex though
// asked for duplex, or lost the last back) names the back missing.
func TestDuplexJobEndingOnAFront(t *testing.T) {
	good := scannertest.Page(400, 560, false)
	s := &scannertest.Scanner{Pages: [][]byte{good, good, good}}
	k, _ := withDouble(t, s)
	if err := k.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v := k.View(); !slices.Equal(v.Missing, []MissingPage{{Sheet: 2, Side: "back"}}) || v.Scanned != 3 {
		t.Fatalf("missing %v, %d pages", v.Missing, v.Scanned)
	}
}

// A page that breaks off because the scanner did (a dropped connection, a
// stall) ends the job: the page is named missing and the customer told the
// scan did not finish, instead of the job going on past it.
func TestPageBrokenOffEndsTheJob(t *testing.T) {
	good := scannertest.Page(400, 560, false)
	s := &scannertest.Scanner{Pages: [][]byte{good, good, good, good, good, good},
		BreakErr: fmt.Errorf("escl: page: %w", scanner.ErrStalled), BreakAt: 2}
	k, _ := withDouble(t, s)
	if err := k.Scan(context.Background()); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("scan: %v", err)
	}
	v := k.View()
	if v.ErrorKey != "stalled" || v.Scanned != 2 || !slices.Equal(v.Missing, []MissingPage{{Sheet: 2, Side: "front"}}) {
		t.Fatalf("view: %q, %d pages, missing %v", v.ErrorKey, v.Scanned, v.Missing)
	}
}

// A duplex rescan that brings only a front names the back missing.
func TestRescanWithoutBack(t *testing.T) {
	good := scannertest.Page(400, 560, false)
	s := &scannertest.Scanner{Pages: [][]byte{good, good, []byte("junk"), good}}
	k, _ := withDouble(t, s)
	ctx := context.Background()
	if err := k.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	s.Pages = [][]byte{good}
	if err := k.Rescan(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if v := k.View(); !slices.Equal(v.Missing, []MissingPage{{Sheet: 2, Side: "back"}}) || !slices.Equal(sheetsOf(v), []string{"1f", "1b", "2f"}) {
		t.Fatalf("missing %v, pages %v", v.Missing, sheetsOf(v))
	}
}

package wiegand

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/einwurf/einwurf/board"
	"github.com/einwurf/einwurf/drivers/barcode"
	"github.com/einwurf/einwurf/drivers/barcode/wiegand/wiegandtest"
	"github.com/einwurf/einwurf/internal/testtool"
)

var _ barcode.Checker = (*Reader)(nil)

// failingEdges is an edge source whose waits fail (a line request gone
// bad) while fail is set.
type failingEdges struct {
	fail   chan bool
	onGood func()
}

var errLine = errors.New("line request failed")

func (f *failingEdges) WaitForEdge(time.Duration) (board.Edge, bool, error) {
	if <-f.fail {
		return board.Edge{}, false, errLine
	}
	f.onGood()
	return board.Edge{}, false, nil
}

func (f *failingEdges) Close() error { return nil }

// TestHealth: a Wiegand reader cannot be asked; with its lines held it is
// ok, not asked; a closed one is offline.
func TestHealth(t *testing.T) {
	_, r := setup(t, Config{})
	ctx := context.Background()
	if h, err := r.Health(ctx); err != nil || h != (barcode.Health{State: barcode.StateOK, Reason: barcode.ReasonLinesHeld}) {
		t.Fatalf("health %+v, %v", h, err)
	}
	r.Close()
	if h, _ := r.Health(ctx); h != (barcode.Health{State: barcode.StateOffline, Reason: barcode.ReasonClosed}) {
		t.Fatalf("closed: health %+v", h)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := r.Health(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

// TestHealthLineError: a wait for an edge that fails makes the reader
// offline until a wait succeeds again.
func TestHealthLineError(t *testing.T) {
	src := &failingEdges{fail: make(chan bool, 2)}
	r, err := NewReader(src, Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	src.fail <- true
	if _, err := r.Read(context.Background()); !errors.Is(err, errLine) {
		t.Fatalf("Read: %v", err)
	}
	if h, _ := r.Health(context.Background()); h != (barcode.Health{State: barcode.StateOffline, Reason: barcode.ReasonLineError}) {
		t.Fatalf("health %+v", h)
	}
	// One wait that succeeds (then the reading stops): ok again.
	ctx, cancel := context.WithCancel(context.Background())
	src.onGood = cancel
	src.fail <- false
	if _, err := r.Read(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read: %v", err)
	}
	if h, _ := r.Health(context.Background()); !h.OK() {
		t.Fatalf("health %+v after a good wait", h)
	}
}

// readAsync reads one scan in the background, with a generous deadline.
func readAsync(r *Reader) <-chan readResult {
	out := make(chan readResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		s, err := r.Read(ctx)
		out <- readResult{s, err}
	}()
	return out
}

type readResult struct {
	s   barcode.Scan
	err error
}

// TestLinesFailAndComeBack: a reader made by Open outlives a failure of
// its lines: Read does not return the error, the reader is offline
// (line-error) while the lines cannot be requested, ok again once they
// are, and the next badge is read. Before, Read returned the line's error
// and the reading ended for good.
func TestLinesFailAndComeBack(t *testing.T) {
	b, r := setup(t, Config{})
	ctx := context.Background()
	if err := wiegandtest.Present(b, 26, 12345678); err != nil {
		t.Fatal(err)
	}
	if s, err := read(t, r); err != nil || s.Data != "12345678" {
		t.Fatalf("before: %q %v", s.Data, err)
	}
	got := readAsync(r)
	b.FailLines()
	offline := barcode.Health{State: barcode.StateOffline, Reason: barcode.ReasonLineError}
	testtool.WaitFor(t, 60*time.Second, "offline after the line error", func() bool {
		h, _ := r.Health(ctx)
		return h == offline
	})
	select {
	case res := <-got:
		t.Fatalf("Read returned during the outage: %q %v", res.s.Data, res.err)
	default:
	}
	b.RestoreLines()
	testtool.WaitFor(t, 60*time.Second, "ok once the lines are back", func() bool {
		h, _ := r.Health(ctx)
		return h.OK()
	})
	if err := wiegandtest.Present(b, 26, 7654321); err != nil {
		t.Fatal(err)
	}
	res := <-got
	if res.err != nil || res.s.Data != "07654321" {
		t.Fatalf("after: %q %v", res.s.Data, res.err)
	}
}

// TestLinesFailThenClose: Close ends a Read that waits to request the
// lines again (barcode.ErrClosed), and a cancelled Read returns ctx's
// error; the next Read goes on requesting.
func TestLinesFailThenClose(t *testing.T) {
	b, r := setup(t, Config{})
	b.FailLines()
	cctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := r.Read(cctx); done <- err }()
	testtool.WaitFor(t, 60*time.Second, "offline", func() bool {
		h, _ := r.Health(context.Background())
		return !h.OK()
	})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Read: %v", err)
	}
	got := readAsync(r)
	r.Close()
	if res := <-got; !errors.Is(res.err, barcode.ErrClosed) {
		t.Fatalf("Read after Close: %v", res.err)
	}
	if h, _ := r.Health(context.Background()); h.Reason != barcode.ReasonClosed {
		t.Fatalf("health %+v", h)
	}
}

package wiegand

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/einwurf/einwurf/board"
	"github.com/einwurf/einwurf/drivers/barcode"
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

package appliance

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/einwurf/einwurf/board/sim"
	"github.com/einwurf/einwurf/drivers/barcode"
	"github.com/einwurf/einwurf/drivers/barcode/wiegand"
	"github.com/einwurf/einwurf/drivers/barcode/wiegand/wiegandtest"
	"github.com/einwurf/einwurf/internal/testtool"
)

// scripted is a reader that answers from a script (an error, or a scan
// where it is nil), then waits for ctx; it records when it was asked.
type scripted struct {
	mu     sync.Mutex
	script []error // nil: a scan "ok<n>"
	asked  []time.Time
}

var errReader = errors.New("reader failed")

func (r *scripted) Read(ctx context.Context) (barcode.Scan, error) {
	r.mu.Lock()
	r.asked = append(r.asked, time.Now())
	n := len(r.asked)
	r.mu.Unlock()
	if n > len(r.script) {
		<-ctx.Done()
		return barcode.Scan{}, ctx.Err()
	}
	if err := r.script[n-1]; err != nil {
		return barcode.Scan{}, err
	}
	return barcode.Scan{Data: "ok"}, nil
}

// TestReadScansSurvivesErrors: a reader's errors do not end the reading;
// each is followed by a pause doubling from the minimum up to the maximum
// (no hot loop), a good read starts the pauses over, and ctx ends it.
// Before, readCodes and readBadges returned at the first error for good.
func TestReadScansSurvivesErrors(t *testing.T) {
	r := &scripted{script: []error{errReader, errReader, errReader, errReader, nil, errReader, nil}}
	retry := scanRetry{min: 10 * time.Millisecond, max: 30 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan barcode.Scan, 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		readScans(ctx, slog.New(slog.DiscardHandler), "test", r, retry, func(s barcode.Scan) { got <- s })
	}()
	for range 2 {
		select {
		case <-got:
		case <-time.After(60 * time.Second):
			t.Fatal("no scan after the reader's errors")
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("readScans did not end with ctx")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// The pause before each Read (a lower bound: a timer never fires
	// early): after the 1st..4th error 10, 20, 30, 30 ms; none after a
	// scan; 10 ms after the error that follows a scan.
	want := []time.Duration{10, 20, 30, 30, 0, 10, 0}
	if len(r.asked) != len(want)+1 {
		t.Fatalf("%d reads, want %d", len(r.asked), len(want)+1)
	}
	for i, w := range want {
		if gap := r.asked[i+1].Sub(r.asked[i]); gap < w*time.Millisecond {
			t.Errorf("read %d came %v after the one before, want at least %v", i+2, gap, w*time.Millisecond)
		}
	}
}

// TestReadScansClosed: a closed reader ends the reading.
func TestReadScansClosed(t *testing.T) {
	r := &scripted{script: []error{barcode.ErrClosed, nil}}
	readScans(context.Background(), slog.New(slog.DiscardHandler), "test", r, defaultScanRetry, func(barcode.Scan) {
		t.Error("a scan after ErrClosed")
	})
}

// TestBadgesAfterLineError: staff badges on a Wiegand reader whose GPIO
// lines fail: the reading goes on, the reader is offline meanwhile, and
// once the lines can be requested again the next badge is read. Before,
// the reader's Read returned the line error and the badge reading ended
// until einwurfd restarted.
func TestBadgesAfterLineError(t *testing.T) {
	b, err := sim.NewDefault()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	r, err := wiegand.Open(b, wiegand.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan string, 4)
	go readScans(ctx, slog.New(slog.DiscardHandler), "badges", r, defaultScanRetry, func(s barcode.Scan) { got <- s.Data })
	badge := func(n uint64, want string) {
		t.Helper()
		if err := wiegandtest.Present(b, 26, n); err != nil {
			t.Fatal(err)
		}
		select {
		case s := <-got:
			if s != want {
				t.Fatalf("read %q, want %q", s, want)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("no badge read")
		}
	}
	badge(1234, "00001234")
	b.FailLines()
	testtool.WaitFor(t, 60*time.Second, "the reader offline", func() bool {
		h, _ := r.Health(ctx)
		return h.State == barcode.StateOffline && h.Reason == barcode.ReasonLineError
	})
	b.RestoreLines()
	testtool.WaitFor(t, 60*time.Second, "the reader ok again", func() bool {
		h, _ := r.Health(ctx)
		return h.OK()
	})
	badge(4321, "00004321")
}

package appliance

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/barcode"
	barcodesim "github.com/einwurf/einwurf/drivers/barcode/sim"
)

// events records the reader's alarms and notices.
type events struct {
	mu  sync.Mutex
	got []string
}

func (e *events) alarm(code, detail string)  { e.add("alarm " + code + " " + detail) }
func (e *events) notice(code, detail string) { e.add("notice " + code + " " + detail) }
func (e *events) add(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, s)
}

func (e *events) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.got...)
}

// stuckChecker answers only when its context ends.
type stuckChecker struct{}

func (stuckChecker) Health(ctx context.Context) (barcode.Health, error) {
	<-ctx.Done()
	return barcode.Health{}, ctx.Err()
}

// TestReaderStates: telemetry's reader state follows the reader's health
// once confirmed: dead after two answers not ok in a row, with one alarm
// per state (reader.offline, reader.fault; the detail the reason key), back
// at the first ok answer with the notice reader.ok. A reader that cannot
// tell, or was not asked yet, has no state.
func TestReaderStates(t *testing.T) {
	a := &Appliance{}
	if a.readerState() != "" || a.ReaderDown() {
		t.Fatal("a state without a reader watch")
	}
	var ev events
	a.rdr = newReaderWatch(time.Second, ev.alarm, ev.notice)
	if a.readerState() != "" {
		t.Fatal("a state before the reader was asked")
	}
	r := barcodesim.New()
	defer r.Close()
	ctx := context.Background()
	step := func(st barcode.State, reason, want string) {
		t.Helper()
		if st != "" {
			if err := r.SetHealth(st, reason); err != nil {
				t.Fatal(err)
			}
		}
		a.rdr.check(ctx, r)
		if got := a.readerState(); got != want {
			t.Fatalf("after %s/%s: state %q, want %q", st, reason, got, want)
		}
	}
	step("", "", "ok")
	step(barcode.StateOffline, barcode.ReasonNoAnswer, "ok") // one answer is not yet dead
	if a.ReaderDown() {
		t.Fatal("down after one answer")
	}
	step("", "", "offline")
	if !a.ReaderDown() {
		t.Fatal("not down")
	}
	step("", "", "offline") // no second alarm
	step(barcode.StateFault, barcode.ReasonBadFrames, "fault")
	step(barcode.StateOK, "", "ok")
	if a.ReaderDown() {
		t.Fatal("down after it is back")
	}
	step(barcode.StateAbsent, barcode.ReasonGone, "ok")
	step(barcode.StateOK, "", "ok") // a single miss raised nothing, clears nothing
	want := []string{"alarm reader.offline no-answer", "alarm reader.fault bad-frames", "notice reader.ok "}
	if got := ev.list(); len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("events %q, want %q", got, want)
	}
	// A reader that does not answer within the bound is offline: the
	// bound, not the reader, ends the question.
	a.rdr = newReaderWatch(10*time.Millisecond, ev.alarm, ev.notice)
	a.rdr.bound = 10 * time.Millisecond // the stuck reader never answers
	a.rdr.check(ctx, stuckChecker{})
	a.rdr.check(ctx, stuckChecker{})
	if got := a.readerState(); got != "offline" {
		t.Fatalf("stuck reader: %q", got)
	}
}

// TestWatchReader: the loop asks the reader each round, raises the alarm
// when the simulation kills it, and ends with its context; a reader
// without barcode.Checker is never asked.
func TestWatchReader(t *testing.T) {
	r := barcodesim.New()
	defer r.Close()
	var ev events
	a := &Appliance{reader: r, rdr: newReaderWatch(5*time.Millisecond, ev.alarm, ev.notice)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.watchReader(ctx); close(done) }()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: state %q, events %q", what, a.readerState(), ev.list())
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitFor("ok", func() bool { return a.readerState() == "ok" })
	if err := r.SetHealth(barcode.StateAbsent, ""); err != nil {
		t.Fatal(err)
	}
	waitFor("absent", func() bool { return a.readerState() == "absent" && len(ev.list()) == 1 })
	if got := ev.list()[0]; got != "alarm reader.absent simulated" {
		t.Fatalf("event %q", got)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the loop did not end with its context")
	}
	b := &Appliance{reader: noChecker{}, rdr: newReaderWatch(time.Millisecond, ev.alarm, ev.notice)}
	b.watchReader(context.Background()) // returns at once
	if b.readerState() != "" {
		t.Fatal("a reader that cannot tell has a state")
	}
}

type noChecker struct{}

func (noChecker) Read(ctx context.Context) (barcode.Scan, error) {
	<-ctx.Done()
	return barcode.Scan{}, ctx.Err()
}

package panel

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/einwurf/einwurf/board"
	"github.com/einwurf/einwurf/board/sim"
	"github.com/einwurf/einwurf/internal/testtool"
	"periph.io/x/conn/v3/gpio"
)

func TestLookPatterns(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		s       State
		at      time.Duration
		g, a, r bool
	}{
		{Ready, 0, true, false, false},
		{Ready, 7 * time.Second, true, false, false},
		{Busy, 100 * ms, true, false, false},
		{Busy, 600 * ms, false, false, false},
		{Busy, 1100 * ms, true, false, false},
		{Attention, 100 * ms, false, true, false},
		{Attention, 300 * ms, false, false, false},
		{OutOfService, 5 * time.Second, false, false, true},
		{Maintenance, 500 * ms, false, true, true},
		{Maintenance, 1500 * ms, false, true, false},
	} {
		l := Looks[tc.s]
		if g, a, r := l.Green.Lit(tc.at), l.Amber.Lit(tc.at), l.Red.Lit(tc.at); g != tc.g || a != tc.a || r != tc.r {
			t.Errorf("%s at %v: lights %v %v %v, want %v %v %v", tc.s, tc.at, g, a, r, tc.g, tc.a, tc.r)
		}
	}
}

func TestBeepPattern(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		at          time.Duration
		on, running bool
	}{
		{0, true, true}, {149 * ms, true, true}, {150 * ms, false, true}, {260 * ms, true, true},
		{649 * ms, true, true}, {650 * ms, false, false},
	} {
		if on, run := BeepError.On(tc.at); on != tc.on || run != tc.running {
			t.Errorf("at %v: on=%v running=%v", tc.at, on, run)
		}
	}
	for _, bad := range []Beep{nil, {0}, {-ms}, {11 * time.Second}, make(Beep, 33)} {
		if bad.valid() == nil {
			t.Errorf("beep %v accepted", bad)
		}
	}
}

type rig struct {
	b      *sim.Board
	p      *Panel
	cancel context.CancelFunc
	done   chan error
}

func newRig(t *testing.T, before func(*sim.Board)) *rig {
	t.Helper()
	b, err := sim.NewDefault()
	if err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before(b)
	}
	// The rig's inputs change once per Drive (bounces are tested on
	// recorded edges: TestServiceKeyDebounced), so the default debounce.
	p, err := Open(b, Config{Tick: 2 * time.Millisecond}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &rig{b: b, p: p, cancel: cancel, done: make(chan error, 1)}
	go func() { g.done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-g.done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not stop")
		}
	})
	return g
}

// waitFor waits up to a minute for cond.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testtool.WaitFor(t, time.Minute, what, cond)
}

func (g *rig) lit(s board.Signal) bool {
	on, _ := g.b.Asserted(s)
	return on
}

func TestStatesReachTheLights(t *testing.T) {
	g := newRig(t, nil)
	waitFor(t, "ready", func() bool { return g.lit(board.LightGreen) && !g.lit(board.LightRed) })
	if err := g.p.SetState(OutOfService); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "out of service", func() bool {
		return g.lit(board.LightRed) && !g.lit(board.LightGreen) && !g.lit(board.LightAmber)
	})
	if err := g.p.SetState(Attention); err != nil {
		t.Fatal(err)
	}
	// Blinking amber: seen on and off.
	waitFor(t, "amber on", func() bool { return g.lit(board.LightAmber) && !g.lit(board.LightRed) })
	waitFor(t, "amber off", func() bool { return !g.lit(board.LightAmber) })
	waitFor(t, "amber on again", func() bool { return g.lit(board.LightAmber) })
	if g.p.State() != Attention {
		t.Fatalf("state %v", g.p.State())
	}
	if err := g.p.SetState(State(42)); err == nil {
		t.Fatal("unknown state accepted")
	}
	g.cancel()
	if err := <-g.done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
	g.done <- nil // for the cleanup
	for _, s := range []board.Signal{board.LightGreen, board.LightAmber, board.LightRed, board.Buzzer} {
		if g.lit(s) {
			t.Fatalf("%s still on after stop", s)
		}
	}
}

func TestBeepDrivesBuzzer(t *testing.T) {
	g := newRig(t, nil)
	if err := g.p.Beep(Beep{60 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "buzzer on", func() bool { return g.lit(board.Buzzer) })
	waitFor(t, "buzzer off", func() bool { return !g.lit(board.Buzzer) })
	if err := g.p.Beep(Beep{}); err == nil {
		t.Fatal("empty beep accepted")
	}
}

func nextEvent(t *testing.T, p *Panel) Event {
	t.Helper()
	select {
	case e := <-p.Events():
		return e
	case <-time.After(60 * time.Second):
		t.Fatal("no event")
	}
	return Event{}
}

// recorded are an input's edges as recorded, with their own times: wait
// hands them out at once, in order, then reports the quiet after the
// last one once and then waits for ctx.
type recorded struct {
	ctx   context.Context
	edges []recordedEdge
	quiet bool
}

type recordedEdge struct {
	asserted bool
	at       time.Duration // after the start
}

var recordStart = time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)

func (r *recorded) wait(time.Duration) (bool, time.Time, bool) {
	if len(r.edges) > 0 {
		e := r.edges[0]
		r.edges = r.edges[1:]
		return e.asserted, recordStart.Add(e.at), true
	}
	if !r.quiet {
		r.quiet = true
		return false, time.Time{}, false
	}
	<-r.ctx.Done()
	return false, time.Time{}, false
}

// TestServiceKeyDebounced: the service key's recorded edges, debounced by
// their own times (50 ms): the key turned with contact chatter is one
// ServiceKeyTurned, a glitch that returns within the debounce time is no
// event, the key returned (bouncing) is one ServiceKeyReturned; a level
// that holds exactly the debounce time counts. Each event carries the
// time of the edge its level settled at. Nothing depends on the wall
// clock or on scheduling: the events come in order, so an event the
// chatter or the glitch made would come before the last one.
func TestServiceKeyDebounced(t *testing.T) {
	b, err := sim.NewDefault()
	if err != nil {
		t.Fatal(err)
	}
	p, err := Open(b, Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ms := time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	src := &recorded{ctx: ctx, edges: []recordedEdge{
		// turned, chattering for 8 ms
		{true, 1000 * ms}, {false, 1002 * ms}, {true, 1004 * ms}, {false, 1006 * ms}, {true, 1008 * ms},
		// a glitch of 10 ms
		{false, 2000 * ms}, {true, 2010 * ms},
		// returned, bouncing
		{false, 3000 * ms}, {true, 3001 * ms}, {false, 3003 * ms},
		// turned for exactly the debounce time
		{true, 4000 * ms}, {false, 4050 * ms},
	}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.watch(ctx, src, false, recordStart, ServiceKeyTurned, ServiceKeyReturned)
	}()
	want := []Event{
		{ServiceKeyTurned, recordStart.Add(1008 * ms)},
		{ServiceKeyReturned, recordStart.Add(3003 * ms)},
		{ServiceKeyTurned, recordStart.Add(4000 * ms)},
		{ServiceKeyReturned, recordStart.Add(4050 * ms)},
	}
	for i, w := range want {
		if e := nextEvent(t, p); e != w {
			t.Fatalf("event %d: %v at %v, want %v at %v", i, e.Kind, e.Time.Sub(recordStart), w.Kind, w.Time.Sub(recordStart))
		}
	}
	cancel()
	<-done
	select {
	case e := <-p.Events():
		t.Fatalf("unexpected event %v at %v", e.Kind, e.Time.Sub(recordStart))
	default:
	}
}

// TestServiceKeyOnTheBoard: the service key driven on the simulated board
// (edges stamped when read) reaches Events turned and returned.
func TestServiceKeyOnTheBoard(t *testing.T) {
	g := newRig(t, nil)
	if err := g.b.DriveAsserted(board.ServiceKey, true); err != nil {
		t.Fatal(err)
	}
	if e := nextEvent(t, g.p); e.Kind != ServiceKeyTurned {
		t.Fatalf("event %v", e.Kind)
	}
	if err := g.b.DriveAsserted(board.ServiceKey, false); err != nil {
		t.Fatal(err)
	}
	if e := nextEvent(t, g.p); e.Kind != ServiceKeyReturned {
		t.Fatalf("event %v", e.Kind)
	}
}

func TestTamperAlarm(t *testing.T) {
	g := newRig(t, nil)
	if err := g.b.DriveAsserted(board.Tamper, true); err != nil {
		t.Fatal(err)
	}
	e := nextEvent(t, g.p)
	if e.Kind != TamperOpened || e.Kind.String() != "tamper_opened" {
		t.Fatalf("event %v", e.Kind)
	}
	g.b.DriveAsserted(board.Tamper, false)
	if e := nextEvent(t, g.p); e.Kind != TamperClosed {
		t.Fatalf("event %v", e.Kind)
	}
}

func TestTamperOpenAtStart(t *testing.T) {
	g := newRig(t, func(b *sim.Board) {
		pin, _ := b.Pin(board.Tamper)
		pin.Out(gpio.High) // pulled up: the case is open
	})
	if e := nextEvent(t, g.p); e.Kind != TamperOpened {
		t.Fatalf("event %v", e.Kind)
	}
}

func TestPanelWithoutOptionalLines(t *testing.T) {
	p, err := board.ParseProfile([]byte(`{"name":"tiny","chip":"sim0","lines":{"light_red":{"name":"SIM_LIGHT_RED"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := sim.New(p)
	if err != nil {
		t.Fatal(err)
	}
	pn, err := Open(b, Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pn.Beep(BeepOK); !errors.Is(err, board.ErrNoSignal) {
		t.Fatalf("beep without buzzer: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pn.Run(ctx) }()
	pn.SetState(OutOfService)
	waitFor(t, "red", func() bool { on, _ := b.Asserted(board.LightRed); return on })
	cancel()
	<-done
}

package panel

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/einwurf/einwurf/board"
	"github.com/einwurf/einwurf/board/sim"
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
	// A debounce well above the pauses a loaded machine puts between two
	// of the test's Drive calls, which would otherwise split a bounce (or a
	// glitch) into events.
	p, err := Open(b, Config{Debounce: testDebounce, Tick: 2 * time.Millisecond}, slog.New(slog.DiscardHandler))
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

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached in 5s", what)
		}
		time.Sleep(time.Millisecond)
	}
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
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	return Event{}
}

// testDebounce is the rig's debounce time.
const testDebounce = 400 * time.Millisecond

// noEvent fails if an event comes within twice the time one takes to be
// reported (the watcher's 100 ms poll, then the debounce).
func noEvent(t *testing.T, p *Panel) {
	t.Helper()
	select {
	case e := <-p.Events():
		t.Fatalf("unexpected event %v", e.Kind)
	case <-time.After(2 * (100*time.Millisecond + testDebounce)):
	}
}

func TestServiceKeyDebounced(t *testing.T) {
	g := newRig(t, nil)
	noEvent(t, g.p)
	// Contact bounce: the key is turned (active low), chatters, settles.
	for _, l := range []gpio.Level{gpio.Low, gpio.High, gpio.Low, gpio.High, gpio.Low} {
		if err := g.b.Drive(board.ServiceKey, l); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if e := nextEvent(t, g.p); e.Kind != ServiceKeyTurned {
		t.Fatalf("event %v", e.Kind)
	}
	noEvent(t, g.p)
	// A glitch that returns within the debounce time is no event.
	g.b.Drive(board.ServiceKey, gpio.High)
	g.b.Drive(board.ServiceKey, gpio.Low)
	noEvent(t, g.p)
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

// Package panel drives the kiosk's front panel: the status lights (green,
// amber, red) showing the appliance's state as patterns, the buzzer, the
// service key switch and the tamper switch. Inputs are debounced and
// delivered as events on a channel: the appliance opens service mode on
// ServiceKeyTurned and sends an alarm to the central on TamperOpened.
//
// The panel runs on any board.Board, so board/sim's gpiotest pins and real
// GPIO lines take the same code path.
package panel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/einwurf/einwurf/board"
	"periph.io/x/conn/v3/gpio"
)

// State is what the lights show.
type State int

// Appliance states.
const (
	// Ready: waiting for a customer.
	Ready State = iota
	// Busy: scanning, sending.
	Busy
	// Attention: the customer must act (paper jam, take originals).
	Attention
	// OutOfService: the kiosk cannot take documents.
	OutOfService
	// Maintenance: service mode, opened with the service key.
	Maintenance
)

var stateNames = [...]string{"ready", "busy", "attention", "out_of_service", "maintenance"}

// String returns the state's name as telemetry reports it.
func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return fmt.Sprintf("state(%d)", int(s))
	}
	return stateNames[s]
}

// Blink is one light's pattern: on for On, then off for Off, repeating.
// Off == 0 is steady on; On == 0 is off.
type Blink struct {
	On, Off time.Duration
}

// Lit reports whether the light is on at elapsed time since the pattern
// started.
func (b Blink) Lit(elapsed time.Duration) bool {
	switch {
	case b.On <= 0:
		return false
	case b.Off <= 0:
		return true
	}
	return elapsed%(b.On+b.Off) < b.On
}

// Look is the pattern of all three lights.
type Look struct {
	Green, Amber, Red Blink
}

var steady = Blink{On: time.Second}

// Looks maps each state to its light pattern.
var Looks = map[State]Look{
	Ready:        {Green: steady},
	Busy:         {Green: Blink{On: 500 * time.Millisecond, Off: 500 * time.Millisecond}},
	Attention:    {Amber: Blink{On: 250 * time.Millisecond, Off: 250 * time.Millisecond}},
	OutOfService: {Red: steady},
	Maintenance:  {Amber: steady, Red: Blink{On: time.Second, Off: time.Second}},
}

// Beep is a buzzer pattern: alternating on and off durations, starting
// with on.
type Beep []time.Duration

// Beeps the kiosk uses.
var (
	// BeepOK acknowledges a good read or a confirmed document.
	BeepOK = Beep{80 * time.Millisecond}
	// BeepError signals a refused code or a fault.
	BeepError = Beep{150 * time.Millisecond, 100 * time.Millisecond, 150 * time.Millisecond, 100 * time.Millisecond, 150 * time.Millisecond}
	// BeepAttention asks the customer to act.
	BeepAttention = Beep{400 * time.Millisecond}
)

// On reports whether the buzzer sounds at elapsed time since the beep
// started, and whether the beep is still running.
func (b Beep) On(elapsed time.Duration) (on, running bool) {
	for i, d := range b {
		if elapsed < d {
			return i%2 == 0, true
		}
		elapsed -= d
	}
	return false, false
}

func (b Beep) valid() error {
	if len(b) == 0 || len(b) > 32 {
		return fmt.Errorf("panel: beep of %d steps", len(b))
	}
	var total time.Duration
	for _, d := range b {
		if d <= 0 {
			return errors.New("panel: beep step not positive")
		}
		total += d
	}
	if total > 10*time.Second {
		return fmt.Errorf("panel: beep of %v too long", total)
	}
	return nil
}

// EventKind says what happened at an input.
type EventKind int

// Input events.
const (
	ServiceKeyTurned EventKind = iota + 1
	ServiceKeyReturned
	TamperOpened
	TamperClosed
)

var kindNames = map[EventKind]string{
	ServiceKeyTurned: "service_key_turned", ServiceKeyReturned: "service_key_returned",
	TamperOpened: "tamper_opened", TamperClosed: "tamper_closed",
}

// String names the event as it goes to the central.
func (k EventKind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("event(%d)", int(k))
}

// Event is one debounced input change.
type Event struct {
	Kind EventKind
	// Time is when the input reached its new level: the time of the
	// edge after which it stayed quiet for Config.Debounce.
	Time time.Time
}

// Config tunes the panel.
type Config struct {
	// Debounce is how long an input must stay quiet before its level
	// counts (measured on the edges' times); 0 means 50 ms.
	Debounce time.Duration
	// Tick is the light and buzzer update period; 0 means 20 ms.
	Tick time.Duration
}

// Panel is the front panel. Create it with Open, start it with Run.
type Panel struct {
	cfg                     Config
	log                     *slog.Logger
	green, amber, red, buzz *board.Line
	key, tamper             *board.Line
	events                  chan Event
	mu                      sync.Mutex
	state                   State
	stateAt                 time.Time
	beep                    Beep
	beepAt                  time.Time
	running                 bool
}

// Open takes the panel's lines from b. Lines the profile does not map are
// left out (a board without a tamper switch has no tamper events); any
// other error is returned.
func Open(b board.Board, cfg Config, log *slog.Logger) (*Panel, error) {
	if cfg.Debounce == 0 {
		cfg.Debounce = 50 * time.Millisecond
	}
	if cfg.Tick == 0 {
		cfg.Tick = 20 * time.Millisecond
	}
	if cfg.Debounce < 0 || cfg.Tick < time.Millisecond {
		return nil, fmt.Errorf("panel: bad config %+v", cfg)
	}
	if log == nil {
		log = slog.Default()
	}
	p := &Panel{cfg: cfg, log: log.With("device", "panel"), events: make(chan Event, 16), stateAt: time.Now()}
	for _, x := range []struct {
		s   board.Signal
		dst **board.Line
	}{
		{board.LightGreen, &p.green}, {board.LightAmber, &p.amber}, {board.LightRed, &p.red},
		{board.Buzzer, &p.buzz}, {board.ServiceKey, &p.key}, {board.Tamper, &p.tamper},
	} {
		l, err := b.Line(x.s)
		if errors.Is(err, board.ErrNoSignal) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("panel: %w", err)
		}
		*x.dst = &l
	}
	for _, in := range []*board.Line{p.key, p.tamper} {
		if in != nil {
			if err := in.In(in.Pull, gpio.BothEdges); err != nil {
				return nil, fmt.Errorf("panel: %s: %w", in.Signal, err)
			}
		}
	}
	return p, nil
}

// Events delivers debounced input events. The appliance must keep reading
// it: a watcher waits for the reader rather than lose a tamper alarm.
func (p *Panel) Events() <-chan Event { return p.events }

// SetState switches the lights to the pattern of s.
func (p *Panel) SetState(s State) error {
	if _, ok := Looks[s]; !ok {
		return fmt.Errorf("panel: unknown state %d", int(s))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if s != p.state {
		p.state, p.stateAt = s, time.Now()
	}
	return nil
}

// State returns the state shown.
func (p *Panel) State() State {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// Beep starts pattern b on the buzzer, replacing a beep still running.
// It returns at once; Run plays it.
func (p *Panel) Beep(b Beep) error {
	if err := b.valid(); err != nil {
		return err
	}
	if p.buzz == nil {
		return fmt.Errorf("panel: %w: %s", board.ErrNoSignal, board.Buzzer)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.beep, p.beepAt = append(Beep(nil), b...), time.Now()
	return nil
}

// Run drives the lights and buzzer and watches the inputs until ctx is
// done; then it switches lights and buzzer off and returns ctx.Err(). Run
// may be called once.
func (p *Panel) Run(ctx context.Context) error {
	p.mu.Lock()
	if p.running {
		p.mu.Unlock()
		return errors.New("panel: already running")
	}
	p.running = true
	p.mu.Unlock()

	var wg sync.WaitGroup
	watch := func(l *board.Line, on, off EventKind) {
		if l == nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.watch(ctx, lineEdges{l}, l.Asserted(), time.Now(), on, off)
		}()
	}
	watch(p.key, ServiceKeyTurned, ServiceKeyReturned)
	watch(p.tamper, TamperOpened, TamperClosed)

	t := time.NewTicker(p.cfg.Tick)
	defer t.Stop()
	var last [4]int8 // -1 unknown, 0 off, 1 on: write a pin only on change
	for i := range last {
		last[i] = -1
	}
	outs := [4]*board.Line{p.green, p.amber, p.red, p.buzz}
	var err error
	for err == nil {
		now := time.Now()
		p.mu.Lock()
		look, el := Looks[p.state], now.Sub(p.stateAt)
		buzz, _ := p.beep.On(now.Sub(p.beepAt))
		p.mu.Unlock()
		want := [4]bool{look.Green.Lit(el), look.Amber.Lit(el), look.Red.Lit(el), buzz}
		for i, l := range outs {
			if l == nil {
				continue
			}
			v := int8(0)
			if want[i] {
				v = 1
			}
			if v == last[i] {
				continue
			}
			if e := l.Set(want[i]); e != nil {
				err = e
				break
			}
			last[i] = v
		}
		if err != nil {
			break
		}
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-t.C:
		}
	}
	for _, l := range outs {
		if l != nil {
			_ = l.Set(false)
		}
	}
	wg.Wait()
	return err
}

// edges are one input's level changes with their times, as watch reads
// them: wait waits up to timeout for the next one (ok false: none came).
type edges interface {
	wait(timeout time.Duration) (asserted bool, at time.Time, ok bool)
}

// lineEdges are a panel line's edges, stamped when they are read (a
// gpio.PinIO edge carries no time), with the level read after each.
type lineEdges struct{ l *board.Line }

func (e lineEdges) wait(timeout time.Duration) (bool, time.Time, bool) {
	if !e.l.WaitForEdge(timeout) {
		return false, time.Time{}, false
	}
	return e.l.Asserted(), time.Now(), true
}

// debouncer decides an input's level from its edges' own times: a level
// counts once it has held for d, that is when the next edge comes d or
// more after the edge that made it, or when no edge came within d of it
// (quiet). Edges closer together are the contacts' bounce.
type debouncer struct {
	d       time.Duration
	stable  bool      // the level reported last; starts released
	cur     bool      // the level after the last edge
	last    time.Time // that edge's time
	pending bool      // cur has not settled yet
}

// edge takes an edge to asserted at time at. When the level before it
// had held for d and differs from the one reported, that level is
// returned as changed (settled at the time of its own edge).
func (b *debouncer) edge(asserted bool, at time.Time) (level bool, settled time.Time, changed bool) {
	if b.pending && at.Sub(b.last) >= b.d {
		level, settled, changed = b.quiet()
	}
	b.cur, b.last, b.pending = asserted, at, true
	return level, settled, changed
}

// quiet says no edge came within d after the last one: its level settles.
func (b *debouncer) quiet() (level bool, settled time.Time, changed bool) {
	if !b.pending {
		return b.stable, time.Time{}, false
	}
	b.pending = false
	if b.cur == b.stable {
		return b.stable, time.Time{}, false
	}
	b.stable = b.cur
	return b.cur, b.last, true
}

// watch debounces one input (debouncer) and sends its events, each with
// the time of the edge its level settled at. The level at start (asserted,
// at) counts like an edge, and since the reported level starts released,
// a kiosk booting with an open case still raises the alarm.
func (p *Panel) watch(ctx context.Context, src edges, asserted bool, at time.Time, on, off EventKind) {
	const poll = 100 * time.Millisecond
	deb := debouncer{d: p.cfg.Debounce}
	deb.edge(asserted, at)
	for ctx.Err() == nil {
		timeout := poll
		if deb.pending {
			timeout = p.cfg.Debounce
		}
		var lvl, changed bool
		var when time.Time
		if a, t, ok := src.wait(timeout); ok {
			lvl, when, changed = deb.edge(a, t)
		} else {
			lvl, when, changed = deb.quiet()
		}
		if !changed {
			continue
		}
		k := off
		if lvl {
			k = on
		}
		p.log.Info("panel input", "event", k.String())
		select {
		case p.events <- Event{Kind: k, Time: when}:
		case <-ctx.Done():
			return
		}
	}
}

// Package sim is a simulated kiosk board. Its lines are periph gpiotest
// pins on one chip "sim0", resolved through the same profile code as a
// real board, so drivers run unchanged. Tests and the simulated appliance
// drive inputs with Drive (one level change now) or Play (a recorded edge
// sequence with its own timing) and read outputs through Pin.
package sim

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/einwurf/einwurf/board"
	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// ChipName is the name of the simulated GPIO chip.
const ChipName = "sim0"

// LineNames are the simulated chip's lines, by offset.
var LineNames = []string{
	"SIM_TRIGGER", "SIM_GOOD_READ", "SIM_WIEGAND_D0", "SIM_WIEGAND_D1",
	"SIM_LIGHT_GREEN", "SIM_LIGHT_AMBER", "SIM_LIGHT_RED", "SIM_BUZZER",
	"SIM_SERVICE_KEY", "SIM_TAMPER", "SIM_SCANNER_POWER",
	"SIM_KEY_PREV", "SIM_KEY_NEXT", "SIM_KEY_SELECT", "SIM_KEY_REPEAT", "SIM_KEY_VOLUME_UP", "SIM_KEY_VOLUME_DOWN",
}

// edgeBuffer is how many edges a pin or edge set holds for its reader; a
// 34-bit Wiegand frame is 68 edges.
const edgeBuffer = 256

// ErrEdgeOverflow means an edge could not be delivered because the reader
// fell behind by more than the buffer.
var ErrEdgeOverflow = errors.New("board/sim: edge buffer full")

// ErrLineFault is what the board reports while FailLines holds: its line
// requests went bad, as on a GPIO chip that went away.
var ErrLineFault = errors.New("board/sim: line request failed")

// Board is a simulated board. It implements board.Board.
type Board struct {
	profile board.Profile
	refs    map[board.Signal]board.LineRef
	pins    []*gpiotest.Pin // by offset

	mu     sync.Mutex
	sets   map[board.Signal]*EdgeSet
	failed bool // FailLines holds
}

// New returns a simulated board for profile p, which must name lines of
// chip sim0 (the built-in "sim" profile does). The profile is refused like
// on real hardware when it names a missing or doubly used line.
func New(p board.Profile) (*Board, error) {
	refs, err := board.Resolve(p, []board.ChipInfo{{Name: ChipName, Label: "einwurf simulated GPIO", Lines: LineNames}})
	if err != nil {
		return nil, err
	}
	b := &Board{profile: p, refs: refs, sets: map[board.Signal]*EdgeSet{}}
	clock := clockwork.NewRealClock()
	for i, n := range LineNames {
		// Clock is set here because gpiotest sets it lazily, unguarded.
		b.pins = append(b.pins, &gpiotest.Pin{N: n, Num: i, Clock: clock, EdgesChan: make(chan gpio.Level, edgeBuffer)})
	}
	// Every line starts released: a healthy kiosk with its case closed,
	// the service key not turned and all outputs off.
	for s, ref := range refs {
		_ = b.pins[ref.Offset].Out(gpio.Level(p.Lines[s].ActiveLow))
	}
	return b, nil
}

// NewDefault returns a simulated board with the built-in "sim" profile.
func NewDefault() (*Board, error) {
	p, err := board.LoadProfile("sim")
	if err != nil {
		return nil, err
	}
	return New(p)
}

// Profile implements board.Board.
func (b *Board) Profile() board.Profile { return b.profile }

// Pin returns the gpiotest pin behind s, so tests can read outputs.
func (b *Board) Pin(s board.Signal) (*gpiotest.Pin, error) {
	ref, ok := b.refs[s]
	if !ok {
		return nil, fmt.Errorf("%w: %s", board.ErrNoSignal, s)
	}
	return b.pins[ref.Offset], nil
}

// Line implements board.Board.
func (b *Board) Line(s board.Signal) (board.Line, error) {
	pin, err := b.Pin(s)
	if err != nil {
		return board.Line{}, err
	}
	spec := b.profile.Lines[s]
	return board.Line{PinIO: drivenPin{pin}, Signal: s, ActiveLow: spec.ActiveLow, Pull: spec.GPIOPull()}, nil
}

// drivenPin is a gpiotest pin whose level the outside world drives: In
// keeps the level instead of moving it to the pull as gpiotest does,
// because on the kiosk a closed tamper switch holds its pulled-up line low.
type drivenPin struct {
	*gpiotest.Pin
}

// In implements gpio.PinIn.
func (p drivenPin) In(pull gpio.Pull, edge gpio.Edge) error {
	lvl := p.Pin.Read()
	err := p.Pin.In(pull, edge)
	_ = p.Pin.Out(lvl)
	return err
}

// Asserted reports whether signal s is asserted on its simulated line
// (outputs the drivers set, or inputs the test drove).
func (b *Board) Asserted(s board.Signal) (bool, error) {
	l, err := b.Line(s)
	if err != nil {
		return false, err
	}
	return l.Asserted(), nil
}

// Drive changes the level of input s now, as the outside world would: the
// edge goes to the edge set holding s (where a level equal to the current
// one is no edge and ignored), else to the pin's EdgesChan for WaitForEdge.
func (b *Board) Drive(s board.Signal, l gpio.Level) error {
	return b.drive(s, l, time.Now())
}

// DriveAsserted drives input s to its asserted (or released) level.
func (b *Board) DriveAsserted(s board.Signal, on bool) error {
	line, err := b.Line(s)
	if err != nil {
		return err
	}
	return b.Drive(s, line.Level(on))
}

func (b *Board) drive(s board.Signal, l gpio.Level, at time.Time) error {
	pin, err := b.Pin(s)
	if err != nil {
		return err
	}
	b.mu.Lock()
	set := b.sets[s]
	b.mu.Unlock()
	if set != nil {
		if pin.Read() == l {
			return nil
		}
		_ = pin.Out(l)
		return set.push(board.Edge{Index: set.index[s], Level: l, Time: at})
	}
	// The edge is queued even if the level seems unchanged: the pin's
	// level only follows when its reader takes the edge, so comparing
	// here would race with it.
	select {
	case pin.EdgesChan <- l:
		return nil
	default:
		return fmt.Errorf("%w: %s", ErrEdgeOverflow, s)
	}
}

// Event is one recorded level change: signal, new level and when, relative
// to the start of the recording.
type Event struct {
	Signal board.Signal
	Level  gpio.Level
	At     time.Duration
}

// Play delivers a recorded edge sequence as if it started at start: each
// edge carries start+At as its time, so decoders see the recorded pulse
// and gap widths without the test sleeping. Events are delivered in the
// order of At (stable for equal times).
//
// The edges for an edge set are queued in one batch, so a reader never
// sees a recorded frame interrupted by the test's own scheduling; either
// all of them fit in the set's buffer or none is queued.
func (b *Board) Play(start time.Time, events []Event) error {
	evs := append([]Event(nil), events...)
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].At < evs[j].At })
	batches := map[*EdgeSet][]board.Edge{}
	var order []*EdgeSet
	for _, e := range evs {
		pin, err := b.Pin(e.Signal)
		if err != nil {
			return err
		}
		b.mu.Lock()
		set := b.sets[e.Signal]
		b.mu.Unlock()
		if set == nil {
			if err := b.drive(e.Signal, e.Level, start.Add(e.At)); err != nil {
				return err
			}
			continue
		}
		if pin.Read() == e.Level {
			continue
		}
		_ = pin.Out(e.Level)
		if _, seen := batches[set]; !seen {
			order = append(order, set)
		}
		batches[set] = append(batches[set], board.Edge{Index: set.index[e.Signal], Level: e.Level, Time: start.Add(e.At)})
	}
	for _, set := range order {
		if err := set.push(batches[set]...); err != nil {
			return err
		}
	}
	return nil
}

// FailLines makes the board's line requests fail, as a GPIO chip that
// went away: every open edge set's waits fail with ErrLineFault from now
// on, for good (a failed request does not come back; its queued edges are
// lost), and Edges is refused with ErrLineFault until RestoreLines.
func (b *Board) FailLines() {
	b.mu.Lock()
	b.failed = true
	sets := map[*EdgeSet]bool{}
	for _, s := range b.sets {
		sets[s] = true
	}
	b.mu.Unlock()
	for s := range sets {
		s.broken.Store(true)
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
}

// RestoreLines ends FailLines: lines can be requested again (the edge
// sets that failed stay failed; their lines are free once they are
// closed).
func (b *Board) RestoreLines() {
	b.mu.Lock()
	b.failed = false
	b.mu.Unlock()
}

// Edges implements board.Board: the returned set receives the edges Drive
// and Play make on its lines, in the order they are made.
func (b *Board) Edges(signals ...board.Signal) (board.EdgeSource, error) {
	if len(signals) == 0 {
		return nil, errors.New("board/sim: Edges needs at least one signal")
	}
	set := &EdgeSet{b: b, index: map[board.Signal]int{}, done: make(chan struct{}), notify: make(chan struct{}, 1)}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failed {
		return nil, fmt.Errorf("board/sim: edges: %w", ErrLineFault)
	}
	for i, s := range signals {
		if _, ok := b.refs[s]; !ok {
			return nil, fmt.Errorf("%w: %s", board.ErrNoSignal, s)
		}
		if b.sets[s] != nil {
			return nil, fmt.Errorf("board/sim: %s is already in an edge set", s)
		}
		set.index[s] = i
	}
	for s := range set.index {
		b.sets[s] = set
	}
	return set, nil
}

// Close implements board.Board; it closes open edge sets.
func (b *Board) Close() error {
	b.mu.Lock()
	sets := map[*EdgeSet]bool{}
	for _, s := range b.sets {
		sets[s] = true
	}
	b.mu.Unlock()
	for s := range sets {
		s.Close()
	}
	return nil
}

// EdgeSet is the simulated equivalent of a kernel line set: edges of
// several lines in one ordered stream. It implements board.EdgeSource.
type EdgeSet struct {
	b     *Board
	index map[board.Signal]int
	once  sync.Once
	done  chan struct{}
	// broken is set by FailLines: the request went bad for good.
	broken atomic.Bool

	mu     sync.Mutex
	queue  []board.Edge
	notify chan struct{} // signalled when edges are queued
}

// push queues edges all at once, or none when they do not fit: a recorded
// frame reaches the reader whole, however the test goroutine is scheduled.
func (e *EdgeSet) push(eds ...board.Edge) error {
	select {
	case <-e.done:
		return board.ErrClosed
	default:
	}
	e.mu.Lock()
	if len(e.queue)+len(eds) > edgeBuffer {
		e.mu.Unlock()
		return ErrEdgeOverflow
	}
	e.queue = append(e.queue, eds...)
	e.mu.Unlock()
	select {
	case e.notify <- struct{}{}:
	default:
	}
	return nil
}

func (e *EdgeSet) pop() (board.Edge, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.queue) == 0 {
		return board.Edge{}, false
	}
	ed := e.queue[0]
	e.queue = e.queue[1:]
	return ed, true
}

// WaitForEdge implements board.EdgeSource.
func (e *EdgeSet) WaitForEdge(timeout time.Duration) (board.Edge, bool, error) {
	if e.broken.Load() {
		return board.Edge{}, false, ErrLineFault
	}
	// Edges already queued are delivered even after Close, as a kernel
	// buffer would be drained.
	if ed, ok := e.pop(); ok {
		return ed, true, nil
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case <-e.notify:
			if e.broken.Load() {
				return board.Edge{}, false, ErrLineFault
			}
			if ed, ok := e.pop(); ok {
				return ed, true, nil
			}
		case <-e.done:
			return board.Edge{}, false, board.ErrClosed
		case <-t.C:
			return board.Edge{}, false, nil
		}
	}
}

// Close implements board.EdgeSource: it releases the lines and wakes a
// waiting WaitForEdge.
func (e *EdgeSet) Close() error {
	e.once.Do(func() {
		close(e.done)
		e.b.mu.Lock()
		for s := range e.index {
			if e.b.sets[s] == e {
				delete(e.b.sets, s)
			}
		}
		e.b.mu.Unlock()
	})
	return nil
}

var (
	_ board.Board      = (*Board)(nil)
	_ board.EdgeSource = (*EdgeSet)(nil)
)

package board

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/host/v3"
	"periph.io/x/host/v3/gpioioctl"
)

// Open initialises periph on the real board (host.Init) and resolves the
// profile against the Linux GPIO character devices (gpioioctl). A profile
// naming a chip or line the board does not have, or two signals on one
// line, is refused with ErrProfile; a machine without /dev/gpiochip* gets
// ErrNoGPIO.
func Open(p Profile) (Board, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if _, err := host.Init(); err != nil {
		return nil, fmt.Errorf("board: periph host init: %w", err)
	}
	return openChips(p, gpioioctl.Chips)
}

func openChips(p Profile, chips []*gpioioctl.GPIOChip) (Board, error) {
	// gpioioctl sets up a dummy chip on other systems; only real character
	// devices count.
	var real []*gpioioctl.GPIOChip
	for _, c := range chips {
		if _, err := os.Stat(c.Path()); err == nil {
			real = append(real, c)
		}
	}
	if len(real) == 0 {
		return nil, ErrNoGPIO
	}
	infos := make([]ChipInfo, len(real))
	for i, c := range real {
		names := make([]string, c.LineCount())
		for _, l := range c.Lines() {
			if n := l.Number(); n >= 0 && n < len(names) {
				names[n] = l.Name()
			}
		}
		infos[i] = ChipInfo{Name: c.Name(), Label: c.Label(), Lines: names}
	}
	refs, err := Resolve(p, infos)
	if err != nil {
		return nil, err
	}
	b := &realBoard{profile: p, refs: refs, chips: map[string]*gpioioctl.GPIOChip{}, inSet: map[Signal]bool{}}
	for _, c := range real {
		b.chips[c.Name()] = c
	}
	return b, nil
}

type realBoard struct {
	profile Profile
	refs    map[Signal]LineRef
	chips   map[string]*gpioioctl.GPIOChip

	mu    sync.Mutex
	inSet map[Signal]bool
	sets  []*cdevEdges
}

func (b *realBoard) Profile() Profile { return b.profile }

func (b *realBoard) Line(s Signal) (Line, error) {
	ref, ok := b.refs[s]
	if !ok {
		return Line{}, fmt.Errorf("%w: %s", ErrNoSignal, s)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.inSet[s] {
		return Line{}, fmt.Errorf("board: %s is held by an edge set", s)
	}
	l := b.chips[ref.Chip].ByNumber(ref.Offset)
	if l == nil {
		return Line{}, fmt.Errorf("%w: %s: line %d vanished from %s", ErrProfile, s, ref.Offset, ref.Chip)
	}
	spec := b.profile.Lines[s]
	return Line{PinIO: l, Signal: s, ActiveLow: spec.ActiveLow, Pull: spec.GPIOPull()}, nil
}

func (b *realBoard) Edges(signals ...Signal) (EdgeSource, error) {
	if len(signals) == 0 {
		return nil, errors.New("board: Edges needs at least one signal")
	}
	var chip string
	offsets := make([]int, len(signals))
	index := map[uint32]int{}
	pull := gpio.PullNoChange
	for i, s := range signals {
		ref, ok := b.refs[s]
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrNoSignal, s)
		}
		if i == 0 {
			chip = ref.Chip
			pull = b.profile.Lines[s].GPIOPull()
		} else if ref.Chip != chip {
			return nil, fmt.Errorf("board: edge set %v spans chips %s and %s", signals, chip, ref.Chip)
		}
		offsets[i] = ref.Offset
		index[uint32(ref.Offset)] = i
	}
	f, err := requestCdevEdges(b.chips[chip].Path(), offsets, pull)
	if err != nil {
		return nil, err
	}
	es := newCdevEdges(f, index)
	b.mu.Lock()
	for _, s := range signals {
		b.inSet[s] = true
	}
	b.sets = append(b.sets, es)
	b.mu.Unlock()
	return es, nil
}

// Close closes the edge sets. Single lines stay with gpioioctl, which
// holds them for the life of the process.
func (b *realBoard) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []error
	for _, es := range b.sets {
		if err := es.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	b.sets = nil
	return errors.Join(errs...)
}

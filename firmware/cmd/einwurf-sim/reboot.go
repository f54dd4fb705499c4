package main

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/einwurf/einwurf/board"
	boardsim "github.com/einwurf/einwurf/board/sim"
	"github.com/einwurf/einwurf/firmware/appliance"
)

// rebooter holds what restarting the appliance in-process needs: the
// parts it was started with (the kiosk folder among them) and the board's
// profile (the appliance closes its board; a rebooted one gets a new one).
type rebooter struct {
	mu      sync.Mutex // one restart at a time
	quit    chan struct{}
	once    sync.Once
	ctx     context.Context
	parts   appliance.Parts
	profile board.Profile
	done    atomic.Int64 // restarts completed
	// down (tests only), when set, is where a restart waits, the old
	// appliance stopped, until the test lets the board come up again.
	down chan chan struct{}
}

// stop ends restarts for good (the simulation is closing); a restart
// running finishes first, or gives up where it waits.
func (r *rebooter) stop() {
	r.once.Do(func() {
		if r.quit != nil {
			close(r.quit)
		}
	})
	r.mu.Lock() // a restart running finishes (or gives up) first
	defer r.mu.Unlock()
}

// reboot is the simulated kiosk's Parts.Reboot: like systemctl reboot it
// returns at once and the kiosk goes down afterwards. The appliance is
// stopped (its uplink says offline) and started again on the same kiosk
// folder: a new birth with a higher sequence, the same command window, the
// device key as it is on disk now.
func (s *simulation) reboot(context.Context) error {
	go s.restartAppliance()
	return nil
}

func (s *simulation) restartAppliance() {
	r := &s.reboots
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.quit:
		return
	default:
	}
	s.log.Info("einwurf-sim: rebooting the kiosk")
	s.app().Close()
	if r.down != nil {
		up := make(chan struct{})
		select {
		case r.down <- up:
			select {
			case <-up:
			case <-r.quit:
				return
			}
		case <-r.quit:
			return
		}
	}
	p := r.parts
	b, err := boardsim.New(r.profile)
	if err != nil {
		s.log.Error("einwurf-sim: reboot: board", "err", err)
		return
	}
	_, key, err := appliance.Identify(p.Config, p.KioskDir)
	if err != nil {
		s.log.Error("einwurf-sim: reboot: identity", "err", err)
		return
	}
	p.Board, p.Key = b, key
	// The new board before the appliance starts: its UI serves the
	// simulation page at once, and the page drives the board it watches.
	s.board.Store(b)
	a, err := appliance.Start(r.ctx, p)
	if err != nil {
		s.log.Error("einwurf-sim: reboot: start", "err", err)
		return
	}
	s.current.Store(a)
	r.done.Add(1)
	s.log.Info("einwurf-sim: kiosk rebooted", "ui", a.UIURL)
}

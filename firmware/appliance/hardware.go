package appliance

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/einwurf/einwurf/board"
	"github.com/einwurf/einwurf/board/identity"
	"github.com/einwurf/einwurf/board/sensors"
	"github.com/einwurf/einwurf/board/watchdog"
	"github.com/einwurf/einwurf/drivers/panel"
	"github.com/einwurf/einwurf/kiosk/session"
)

// hardware is the board-level part of the appliance: front panel and
// watchdog over a board (simulated or real), and what telemetry reports of
// the board.
type hardware struct {
	board  board.Board
	panel  *panel.Panel
	dog    *watchdog.Watchdog
	info   identity.Info
	zone   string
	closed bool
}

// startHardware starts the panel and the watchdog on b. dogPath is the
// watchdog device; in simulation a file stands in (same code path).
func (a *Appliance) startHardware(ctx context.Context, b board.Board, dogPath string, sim bool, dogTimeout time.Duration) error {
	h := &hardware{board: b, zone: b.Profile().ThermalZone}
	a.hw = h
	var err error
	if h.panel, err = panel.Open(b, panel.Config{}, a.log); err != nil {
		return fmt.Errorf("panel: %w", err)
	}
	panelDone := make(chan struct{})
	go func() { h.panel.Run(ctx); close(panelDone) }()
	a.closers = append(a.closers, func() { <-panelDone })
	go a.panelEvents(ctx)

	if dogTimeout <= 0 {
		dogTimeout = defaultDogTimeout
	}
	if sim {
		h.dog, err = watchdog.OpenSim(dogPath, dogTimeout)
	} else {
		h.dog, err = watchdog.Open(dogPath, dogTimeout)
	}
	if err != nil {
		return fmt.Errorf("watchdog: %w", err)
	}
	if h.info, err = identity.Describe(identity.Sources{}); err != nil {
		h.info = identity.Info{KioskID: a.KioskID}
	}
	return nil
}

// runWatchdog pets the watchdog while the appliance's own checks pass; on a
// clean stop it does the magic close so the board does not reset.
func (a *Appliance) runWatchdog(ctx context.Context, interval time.Duration, checks ...watchdog.Check) {
	if interval <= 0 {
		interval = defaultDogInterval
	}
	if err := a.hw.dog.Run(ctx, interval, a.log, checks...); err != nil && ctx.Err() == nil {
		a.log.Error("einwurfd: watchdog stopped", "err", err)
	}
	if err := a.hw.dog.Close(); err != nil {
		a.log.Warn("einwurfd: watchdog close", "err", err)
	}
}

// healthChecks are what the watchdog requires: the appliance's own loops
// run (the device loop and the tick loop beat, the uplink loop has not
// ended) and the customer's visit answers (the UI's /healthz: it serves,
// and the locks the page's requests wait for — the visit's above all —
// are free within a second). A missing or broken peripheral is not among them: the device
// loop puts the kiosk out of service with an alarm instead, since a reset
// brings no scanner back and would only loop the boot.
func (a *Appliance) healthChecks(uplinkDone <-chan struct{}) []watchdog.Check {
	return []watchdog.Check{
		a.devs.beat.Check("devices"),
		a.tickBeat.Check("tick"),
		{Name: "uplink", Run: func(context.Context) error {
			select {
			case <-uplinkDone:
				return errors.New("uplink loop ended")
			default:
				return nil
			}
		}},
		watchdog.HTTPCheck("ui", a.UIURL+"healthz", nil),
	}
}

// panelEvents turns the panel's inputs into service mode and alarms.
func (a *Appliance) panelEvents(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-a.hw.panel.Events():
			a.panelEvent(ctx, ev.Kind, a.Notice, a.Alarm)
		}
	}
}

// panelEvent acts on one panel input: the kiosk's state changes first,
// then the event goes to the central (notice, alarm), so whoever sees it
// (the central's audit log, a test) can rely on the change: after
// service.open the kiosk is in service mode, after service.close the
// staff's session is over (the self-test runs).
func (a *Appliance) panelEvent(ctx context.Context, k panel.EventKind, notice, alarm func(code, detail string)) {
	switch k {
	case panel.ServiceKeyTurned:
		// A customer's visit does not continue into service mode: its
		// pages are wiped, and the staff's screen says so.
		a.svc.KeyTurned()
		notice("service.open", "")
	case panel.ServiceKeyReturned:
		a.svc.KeyReturned(ctx) // then the self-test
		notice("service.close", "")
	case panel.TamperOpened:
		alarm("tamper.open", "the case was opened")
	case panel.TamperClosed:
		notice("tamper.closed", "")
	}
}

// lights shows the appliance's state on the panel.
func (a *Appliance) lights(v session.View, diskAlarm bool) {
	s := panel.Ready
	switch {
	case a.svc.Active():
		s = panel.Maintenance
	case diskAlarm:
		s = panel.OutOfService
	case v.ErrorKey != "" || v.State == session.Done:
		s = panel.Attention // a jam to clear, or originals to take
	case v.State == session.Scanning || v.State == session.Submitting:
		s = panel.Busy
	}
	if a.hw.panel.State() != s {
		a.hw.panel.SetState(s)
	}
}

// temperature reads the SoC temperature, 0 where the board has no sensor.
func (h *hardware) temperature() int {
	if h.zone == "" {
		return 0
	}
	t, err := sensors.SoCTemperature(filepath.Clean(h.zone))
	if err != nil {
		return 0
	}
	return int(sensors.Celsius(t) * 1000)
}

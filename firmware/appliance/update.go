package appliance

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/einwurf/einwurf/firmware/command"
	"github.com/einwurf/einwurf/firmware/spool"
	"github.com/einwurf/einwurf/firmware/update"
	"github.com/einwurf/einwurf/kiosk/session"
	"github.com/einwurf/einwurf/wire"
)

// UpdateState returns the update's state for the UI (out of service for
// an update, phase); the zero State when updates are off.
func (a *Appliance) UpdateState() update.State {
	if svc := a.update.Load(); svc != nil {
		return update.State{OutOfService: svc.OutOfService(), Phase: svc.Phase()}
	}
	return update.State{}
}

// ErrUpdating refuses customers while the kiosk switches to an update:
// the customer screen says it is out of service for an update (its
// ReasonKey, "out-of-service.update").
var ErrUpdating error = updating{}

type updating struct{}

func (updating) Error() string { return "out of service for an update" }

// ReasonKey is the customer screen's message key.
func (updating) ReasonKey() string { return "out-of-service.update" }

// UpdateParts configure over-the-air updates: of the application bundle
// (when Booted names the slot the launcher started), of the root file
// system (when Rootfs is set), or both.
type UpdateParts struct {
	Settings update.Settings
	// Booted is the slot the launcher started (update.FromEnvironment);
	// "": no application bundle updates.
	Booted string
	// Rootfs names the root file system's slots (nil: no root file system
	// updates). Its switch reboots the board through Parts.Reboot.
	Rootfs *update.RootfsConfig
	// RootJSON is the TUF root the kiosk trusts first.
	RootJSON []byte
	// HealthDeadline bounds the health check after a switch.
	HealthDeadline time.Duration
	// Restart ends the program so the launcher starts the other slot.
	Restart func() error
}

// startUpdate starts the update service: offers from the uplink, reports
// through it, the appliance's checks as the health check after a switch.
func (a *Appliance) startUpdate(ctx context.Context, p Parts, uplinkDone <-chan struct{}) error {
	u := p.Update
	var rootfs *update.Rootfs
	if u.Rootfs != nil {
		if p.Reboot == nil {
			return errors.New("root file system updates need Parts.Reboot")
		}
		r, err := update.LoadRootfs(*u.Rootfs, p.Reboot)
		if err != nil {
			return err
		}
		rootfs = &r
	}
	svc, err := update.NewService(update.Parts{Settings: u.Settings, KioskID: a.KioskID, Version: p.Version, Rootfs: rootfs,
		Booted: u.Booted, CentralKey: p.Central.SignPub, DeviceKey: p.Key, RootJSON: u.RootJSON,
		Publish: func(topic string, payload []byte, retained bool) error {
			return a.Uplink.Publish(topic, json.RawMessage(payload), retained)
		},
		Health:         func(ctx context.Context) error { return a.updateHealth(ctx, uplinkDone) },
		HealthDeadline: u.HealthDeadline,
		Busy:           func() bool { return a.Kiosk.View().State != session.Idle },
		Restart:        u.Restart, Log: a.log})
	if err != nil {
		return err
	}
	a.update.Store(svc)
	a.RegisterUpdateCheck(func(ctx context.Context) error {
		err := svc.CheckNow(ctx)
		switch {
		case errors.Is(err, update.ErrNoUpdate):
			return command.Done("no-update")
		case errors.Is(err, update.ErrInProgress):
			return command.Done("update-in-progress")
		}
		return err
	})
	if o := a.offer.Swap(nil); o != nil {
		svc.Offer(*o)
	}
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	a.closers = append(a.closers, func() { <-done })
	return nil
}

// updateHealth is the check a switched slot must pass to be committed
// (healthParts.checks); a failing check's name is the reason reported.
func (a *Appliance) updateHealth(ctx context.Context, uplinkDone <-chan struct{}) error {
	h := healthParts{
		connected: a.Uplink.Connected,
		publish: func() error {
			return a.Uplink.Publish(wire.TelemetryTopic(a.KioskID), a.Uplink.Telemetry(), false)
		},
		uplinkDone: uplinkDone, uiURL: a.UIURL, devices: a.devs, printer: a.printer,
		diskAlarm: func() bool { return a.Spool.Usage().State == spool.DiskAlarm },
		selfTest:  a.svc.Ready,
	}
	if svc := a.update.Load(); svc != nil {
		h.awaitAck = svc.AwaitAck
	}
	return runHealth(ctx, h.checks())
}

// fetchReply hands a chunk of an update fetched over the broker to the
// update service.
func (a *Appliance) fetchReply(payload []byte) {
	if svc := a.update.Load(); svc != nil {
		svc.FetchReply(payload)
	}
}

// offerUpdate hands an update offer from the uplink to the update service.
func (a *Appliance) offerUpdate(payload []byte) {
	if svc := a.update.Load(); svc != nil {
		svc.Offer(payload)
		return
	}
	b := append([]byte(nil), payload...)
	a.offer.Store(&b)
	if svc := a.update.Load(); svc != nil { // started meanwhile
		if o := a.offer.Swap(nil); o != nil {
			svc.Offer(*o)
		}
	}
}

package appliance

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/einwurf/einwurf/board/identity"
	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/firmware/command"
	"github.com/einwurf/einwurf/internal/atomicfile"
	"github.com/einwurf/einwurf/wire"
)

// OutOfService is the error Ready reports while an operator has taken the
// kiosk out of service; Reason is the key the customer screen shows a
// text for.
type OutOfService struct{ Reason string }

func (e OutOfService) Error() string { return "out of service: " + e.Reason }

// ReasonKey is the message key of the reason (kiosk/ui shows it).
func (e OutOfService) ReasonKey() string { return "out-of-service." + e.Reason }

// SystemReboot asks systemd to restart the board (the central's reboot
// command on a kiosk; einwurfd runs with the right to do so).
func SystemReboot(ctx context.Context) error {
	return exec.CommandContext(ctx, "systemctl", "reboot").Run()
}

// remote is the kiosk's side of the central's commands and its births.
type remote struct {
	a        *Appliance
	p        Parts
	key      atomic.Pointer[ed25519.PrivateKey]
	handler  *command.Handler
	births   *command.Births
	oos      atomic.Pointer[string] // reason while out of service
	oosPath  string
	keyPath  string
	updCheck atomic.Pointer[func(context.Context) error]
}

// startRemote sets up the command handler and births before the uplink
// starts, so its first connect already publishes a birth.
func (a *Appliance) startRemote(p Parts) error {
	r := &remote{a: a, p: p, oosPath: filepath.Join(p.KioskDir, "out-of-service"),
		keyPath: identity.Paths{Dir: p.KioskDir}.Key()}
	k := p.Key
	r.key.Store(&k)
	if b, err := os.ReadFile(r.oosPath); err == nil {
		if s := strings.TrimSpace(string(b)); wire.ValidServiceReason(s) {
			r.oos.Store(&s)
		}
	}
	cmdWindow, err := command.OpenWindow(filepath.Join(p.KioskDir, "command.seq"))
	if err != nil {
		return err
	}
	birthSeq, err := command.OpenSeq(filepath.Join(p.KioskDir, "birth.seq"))
	if err != nil {
		return err
	}
	rotation, err := command.OpenPending(filepath.Join(p.KioskDir, "key-rotation"))
	if err != nil {
		return err
	}
	if k, err := finishRotation(r.keyPath, rotation); err != nil {
		return err
	} else if k != nil {
		r.key.Store(&k)
	}
	r.births = &command.Births{KioskID: p.KioskID, Version: p.Version, Slot: p.Slot, Site: p.Site, Key: r.Key, Seq: birthSeq}
	r.handler = command.New(command.Config{KioskID: p.KioskID, CentralKey: p.Central.SignPub, Key: r.Key, Window: cmdWindow, Rotation: rotation,
		Publish: func(topic string, b []byte) error { return a.Uplink.PublishSigned(topic, b, false) },
		Hooks: command.Hooks{Reboot: p.Reboot, Service: r.service, ResendStatus: r.resend,
			SupportBundle: r.bundle, CheckUpdates: r.checkUpdates, RotateKey: r.rotate, ActivateKey: r.activate},
		Log: a.log})
	a.remote = r
	return nil
}

// Key returns the current device key.
func (r *remote) Key() ed25519.PrivateKey { return *r.key.Load() }

// ready refuses customers while out of service.
func (r *remote) ready() error {
	if s := r.oos.Load(); s != nil {
		return OutOfService{Reason: *s}
	}
	return nil
}

// publishBirth is the uplink's OnConnect. A key rotation the central has
// not confirmed goes first, so the central knows the key the birth is
// signed with.
func (r *remote) publishBirth() {
	r.handler.Reannounce()
	b, err := r.births.Next()
	if err != nil {
		r.a.log.Warn("einwurfd: birth not made", "err", err)
		return
	}
	if err := r.a.Uplink.PublishSigned(wire.BirthTopic(r.p.KioskID), b, true); err != nil {
		r.a.log.Warn("einwurfd: birth not published", "err", err)
	}
}

// service takes the kiosk out of service (persisted, so a restart keeps
// it) or back.
func (r *remote) service(_ context.Context, out bool, reason string) error {
	if !out {
		if err := os.Remove(r.oosPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		r.oos.Store(nil)
		r.a.Notice("service.in", "")
		r.sendTelemetry()
		return nil
	}
	if err := atomicfile.Write(r.oosPath, []byte(reason+"\n"), 0o600); err != nil {
		return err
	}
	r.oos.Store(&reason)
	r.a.Kiosk.Cancel() // no visit continues on a kiosk taken out of service
	r.a.Notice("service.out", reason)
	r.sendTelemetry()
	return nil
}

// sendTelemetry publishes telemetry now, so the dashboard shows a changed
// service state without waiting for the next round (best effort: the next
// round sends it anyway).
func (r *remote) sendTelemetry() {
	if err := r.a.Uplink.Publish(wire.TelemetryTopic(r.p.KioskID), r.a.telemetry(), false); err != nil {
		r.a.log.Debug("einwurfd: telemetry not sent", "err", err)
	}
}

// resend publishes status, birth and telemetry again.
func (r *remote) resend(context.Context) error {
	r.publishBirth()
	return r.a.Uplink.Publish(wire.TelemetryTopic(r.p.KioskID), r.a.telemetry(), false)
}

// RegisterUpdateCheck sets what "check for updates now" does (the
// updater registers itself here).
func (a *Appliance) RegisterUpdateCheck(f func(context.Context) error) {
	a.remote.updCheck.Store(&f)
}

func (r *remote) checkUpdates(ctx context.Context) error {
	f := r.updCheck.Load()
	if f == nil {
		return command.ErrNoHook
	}
	return (*f)(ctx)
}

// bundle is the support bundle: versions, counters, telemetry and the
// configuration without secrets. It holds no personal data: nothing of a
// visit but counts.
func (r *remote) bundle(context.Context) (wire.SupportBundle, error) {
	cfg, err := json.Marshal(r.p.Config)
	if err != nil {
		return wire.SupportBundle{}, err
	}
	red, err := command.Redacted(cfg)
	if err != nil {
		return wire.SupportBundle{}, err
	}
	st := r.a.Uplink.Stats()
	t := r.a.telemetry()
	return wire.SupportBundle{
		Versions: map[string]string{"einwurf": r.p.Version, "go": runtime.Version(), "slot": r.p.Slot},
		Counters: r.a.withServiceCounters(map[string]int64{"delivered": st.Delivered, "rejected": st.Rejected, "dropped": st.Dropped,
			"chunks_sent": st.ChunksSent, "reconnects": st.Reconnects, "visits": t.Visits, "pages": t.Pages,
			"commands_dropped": r.handler.Dropped()}),
		Telemetry: &t, Config: red, Files: r.a.serviceFiles()}, nil
}

// rotate makes a new device key and stores it as the next one
// (device.key.next, temp → fsync → rename → fsync of the folder); activate
// puts it in place of the old one once the rotation is kept for announcing
// again.
func (r *remote) rotate(context.Context) (ed25519.PrivateKey, error) {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(r.keyPath+nextKeySuffix, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, fmt.Errorf("rotate key: %w", err)
	}
	return k, nil
}

// nextKeySuffix names the rotated key before it is the device key.
const nextKeySuffix = ".next"

// activate makes k the device key: in use at once, and renamed over
// device.key (a crash before the rename is finished at the next start:
// finishRotation).
func (r *remote) activate(_ context.Context, k ed25519.PrivateKey) error {
	r.key.Store(&k)
	return renameSynced(r.keyPath+nextKeySuffix, r.keyPath)
}

// finishRotation settles a rotation a crash interrupted: a next key that
// the pending rotation announces becomes the device key (returned); one it
// does not announce was never told to anyone and is removed.
func finishRotation(keyPath string, pending *command.Pending) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(keyPath + nextKeySuffix)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rotate key: %w", err)
	}
	k, kerr := identity.ParseKey(b)
	_, announced := pending.Get()
	if kerr != nil || announced == nil || !announced.Equal(k.Public()) {
		if err := os.Remove(keyPath + nextKeySuffix); err != nil {
			return nil, fmt.Errorf("rotate key: %w", err)
		}
		return nil, nil
	}
	if err := renameSynced(keyPath+nextKeySuffix, keyPath); err != nil {
		return nil, err
	}
	return k, nil
}

// renameSynced renames from over to and syncs the folder.
func renameSynced(from, to string) error {
	if err := os.Rename(from, to); err != nil {
		return fmt.Errorf("rotate key: %w", err)
	}
	d, err := os.Open(filepath.Dir(to))
	if err != nil {
		return fmt.Errorf("rotate key: %w", err)
	}
	defer d.Close()
	return d.Sync()
}

// telemetry is what the kiosk reports: the uplink's counters, the visits'
// counts, the board's sensors, the spool's oldest document, the service
// state.
func (a *Appliance) telemetry() wire.Telemetry {
	tm := a.Uplink.Telemetry()
	tm.Visits, tm.Pages = a.Kiosk.Counts()
	if a.hw != nil {
		tm.Model, tm.Serial, tm.TempMilliC = a.hw.info.Model, a.hw.info.Serial, a.hw.temperature()
	}
	if es, err := a.Spool.List(); err == nil {
		for _, e := range es {
			if tm.Oldest.IsZero() || e.Manifest.Created.Before(tm.Oldest) {
				tm.Oldest = e.Manifest.Created
			}
		}
	}
	if d := a.lastDelivery.Load(); d != nil {
		tm.LastDelivery = *d
	}
	if s := a.remote.oos.Load(); s != nil {
		tm.OutOfService = *s
	}
	tm.Scanner, tm.Printer, tm.Reader = a.scannerState(), a.printerState(), a.readerState()
	a.serviceTelemetry(&tm)
	return tm
}

// scannerState is the scanner's state as the device loop last saw it, as
// a code for the dashboard ("ok", "absent", "jam", ...; empty: not asked
// yet).
func (a *Appliance) scannerState() string {
	if a.devs == nil {
		return ""
	}
	if a.devs.fault.Load() != nil {
		return "absent"
	}
	seen := a.devs.status.Load()
	switch {
	case seen == nil:
		return ""
	case seen.Err != nil:
		return scannerCause(seen.Err)
	}
	for _, c := range []struct {
		err  error
		code string
	}{{scanner.ErrJam, "jam"}, {scanner.ErrCoverOpen, "cover-open"}, {scanner.ErrDoubleFeed, "double-feed"},
		{scanner.ErrBusy, "busy"}, {scanner.ErrOffline, "offline"}} {
		if errors.Is(seen.Status.Err, c.err) {
			return c.code
		}
	}
	if seen.Status.Err != nil && !errors.Is(seen.Status.Err, scanner.ErrFeederEmpty) {
		return "fault"
	}
	return "ok"
}

// printerState asks the receipt printer (bounded: telemetry must not
// wait on a hung printer) and returns a code ("ok", "paper-low",
// "paper-out", "cover-open", "offline"; empty without a printer).
func (a *Appliance) printerState() string {
	if a.printer == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	st, err := a.printer.Status(ctx)
	switch {
	case err != nil || (!st.Online && !st.PaperOut && !st.CoverOpen):
		return "offline"
	case st.PaperOut:
		return "paper-out"
	case st.CoverOpen:
		return "cover-open"
	case st.PaperLow:
		return "paper-low"
	}
	return "ok"
}

// delivered is the uplink's OnDelivered.
func (a *Appliance) delivered(string) {
	now := time.Now().UTC()
	a.lastDelivery.Store(&now)
}

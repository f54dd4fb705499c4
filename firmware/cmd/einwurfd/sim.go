package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"filippo.io/age"

	"github.com/einwurf/einwurf/board/identity"
	boardsim "github.com/einwurf/einwurf/board/sim"
	"github.com/einwurf/einwurf/central/ingest"
	"github.com/einwurf/einwurf/central/keys"
	barcodesim "github.com/einwurf/einwurf/drivers/barcode/sim"
	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/drivers/scanner/escl"
	scannersim "github.com/einwurf/einwurf/drivers/scanner/sim"
	"github.com/einwurf/einwurf/firmware/broker"
	"github.com/einwurf/einwurf/firmware/config"
	"github.com/einwurf/einwurf/firmware/spool"
	"github.com/einwurf/einwurf/firmware/submit"
	"github.com/einwurf/einwurf/firmware/uplink"
	"github.com/einwurf/einwurf/kiosk/document"
	"github.com/einwurf/einwurf/kiosk/session"
	"github.com/einwurf/einwurf/kiosk/ui"
	"github.com/einwurf/einwurf/wire"
)

// appliance is the running simulated kiosk with its central.
type appliance struct {
	kioskID string
	kiosk   *session.Kiosk
	spool   *spool.Spool
	uplink  *uplink.Uplink
	broker  *broker.Broker
	scanner *scannersim.Server
	reader  *barcodesim.Reader
	uiURL   string
	inbox   string
	filed   chan ingest.Filed
	closers []func()
	// centralSecret is the central's broker password (tests listen in).
	centralSecret string
	hw            *hardware
	simBoard      *boardsim.Board
	scan          scanner.Scanner
	service       atomic.Bool // service mode, opened with the service key
}

func (a *appliance) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

func randomSecret() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// startSim starts the whole appliance in simulation.
func startSim(ctx context.Context, f flags) (_ *appliance, err error) {
	cfg := config.Default()
	if f.config != "" {
		if cfg, err = config.Load(f.config); err != nil {
			return nil, err
		}
	}
	if f.listen != "" {
		cfg.Listen = f.listen
	}
	if f.demo {
		cfg.Listen = "127.0.0.1:0"
		f.brokerAddr = "127.0.0.1:0"
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &appliance{filed: make(chan ingest.Filed, 16)}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	ctx, cancel := context.WithCancel(ctx)
	a.closers = append(a.closers, cancel)
	kioskDir := filepath.Join(f.data, "kiosk")
	centralDir := filepath.Join(f.data, "central")
	for _, d := range []string{kioskDir, centralDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}

	// Identity: the device key is created at first start.
	key, err := identity.LoadOrCreateKey(identity.Paths{Dir: kioskDir}.Key())
	if err != nil {
		return nil, err
	}
	a.kioskID = cfg.KioskID
	if a.kioskID == "" {
		if a.kioskID, err = identity.KioskID(identity.Sources{}); err != nil {
			return nil, err
		}
	}

	// The central: keys (keygen at first start), enrolment of this kiosk.
	keyDir := filepath.Join(centralDir, "keys")
	central, err := keys.Load(keyDir)
	if err != nil {
		if central, err = keys.Generate(keyDir); err != nil {
			return nil, err
		}
	}
	reg := keys.OpenRegister(filepath.Join(keyDir, "kiosks.json"))
	if err := reg.Enrol(a.kioskID, key.Public().(ed25519.PublicKey)); err != nil {
		return nil, err
	}

	// The embedded broker with per-run credentials.
	centralSecret, kioskSecret := randomSecret(), randomSecret()
	a.centralSecret = centralSecret
	a.broker, err = broker.Start(broker.Options{Addr: f.brokerAddr,
		Users: map[string]string{broker.CentralUser: centralSecret, a.kioskID: kioskSecret}})
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, func() { a.broker.Close() })

	// The central's ingest, in-process.
	a.inbox = filepath.Join(centralDir, "inbox")
	in, err := ingest.New(ingest.Config{StateDir: filepath.Join(centralDir, "state"), InboxDir: a.inbox,
		Identity: central.Identity, SignKey: central.SignKey, Kiosks: reg,
		OnFiled: func(fd ingest.Filed) {
			select {
			case a.filed <- fd:
			default:
			}
		}})
	if err != nil {
		return nil, err
	}
	cl := ingest.NewClient(ingest.ClientOptions{Brokers: []string{a.broker.URL()}, ClientID: "ingest-sim",
		Username: broker.CentralUser, Password: centralSecret})
	if t := cl.Connect(); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		return nil, fmt.Errorf("central: connect: %v", t.Error())
	}
	ingestDone := make(chan struct{})
	go func() { ingest.Serve(ctx, cl, in, "ingest", 2); close(ingestDone) }()
	a.closers = append(a.closers, func() { cancel(); <-ingestDone; cl.Disconnect(100) })

	// The kiosk's outbox and uplink.
	a.spool, err = spool.Open(filepath.Join(kioskDir, "spool"), spool.Options{MaxBytes: cfg.Spool.MaxBytes,
		WarnFree: cfg.Spool.WarnFree, AlarmFree: cfg.Spool.AlarmFree, Alarm: a.alarm})
	if err != nil {
		return nil, err
	}
	a.uplink = uplink.New(uplink.Config{Brokers: []string{a.broker.URL()}, KioskID: a.kioskID,
		Username: a.kioskID, Password: kioskSecret, CentralKey: central.SignKey.Public().(ed25519.PublicKey),
		Spool: a.spool, Version: version})
	uplinkDone := make(chan struct{})
	go func() { a.uplink.Run(ctx); close(uplinkDone) }()
	a.closers = append(a.closers, func() { cancel(); <-uplinkDone })

	// Simulated devices: the scanner through the real eSCL client.
	a.scanner, err = scannersim.Start(scannersim.Options{Sheets: 3, Duplex: true, Code: f.code, BlankBacks: []int{2}})
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, func() { a.scanner.Close() })
	a.scan = &refillingScanner{Scanner: escl.New(&http.Client{}, a.scanner.URL()), sim: a.scanner}
	a.reader = barcodesim.New()
	a.closers = append(a.closers, func() { a.reader.Close() })

	recipient, err := age.ParseHybridRecipient(central.Public().AgeRecipient)
	if err != nil {
		return nil, err
	}
	sealer := &submit.Sealer{KioskID: a.kioskID, Key: key, Recipient: recipient, Spool: a.spool, Kick: a.uplink.Kick}
	ready := func() error {
		if a.service.Load() {
			return errServiceMode
		}
		if u := a.spool.Usage(); u.State == spool.DiskAlarm {
			return spool.ErrFull
		}
		return nil
	}
	a.kiosk, err = session.New(session.Config{Scanner: a.scan, Submitter: sealer,
		WorkDir: filepath.Join(kioskDir, "visits"), Document: document.DefaultOptions(), RemoveBlank: cfg.RemoveBlank,
		Settings: scanner.Settings{Source: scanner.SourceFeeder, Duplex: cfg.Scanner.Duplex,
			Resolution: cfg.Scanner.Resolution, ColorMode: scanner.ColorMode(cfg.Scanner.Color), Format: scanner.FormatJPEG},
		IdleTimeout: time.Duration(cfg.IdleTimeout), CanAccept: ready})
	if err != nil {
		return nil, err
	}
	// The simulated board: periph gpiotest pins behind the same board,
	// panel and watchdog code as on a kiosk.
	b, err := boardsim.NewDefault()
	if err != nil {
		return nil, err
	}
	a.simBoard = b
	if err := a.startHardware(ctx, b, filepath.Join(kioskDir, "watchdog"), true); err != nil {
		return nil, err
	}
	go a.readCodes(ctx)
	go a.tick(ctx)

	// The UI, on loopback.
	h := ui.New(ui.Config{Kiosk: a.kiosk, InjectCode: a.reader.Inject, Ready: ready})
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("ui: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	a.uiURL = "http://" + ln.Addr().String() + "/"
	a.closers = append(a.closers, func() {
		h.Close()
		sctx, c := context.WithTimeout(context.Background(), 2*time.Second)
		defer c()
		srv.Shutdown(sctx)
	})
	dogDone := make(chan struct{})
	go func() { a.runWatchdog(ctx, a.healthChecks(uplinkDone)...); close(dogDone) }()
	a.closers = append(a.closers, func() { cancel(); <-dogDone })
	slog.Info("einwurfd: simulation started", "kiosk", a.kioskID, "ui", a.uiURL, "broker", a.broker.URL())
	return a, nil
}

// errServiceMode refuses customers while the service key is turned.
var errServiceMode = errors.New("in service mode")

// refillingScanner puts paper back into the simulated feeder before each
// job, as a customer would.
type refillingScanner struct {
	scanner.Scanner
	sim *scannersim.Server
}

func (r *refillingScanner) Scan(ctx context.Context, s scanner.Settings) (scanner.Job, error) {
	if r.sim.Feeder() == 0 {
		r.sim.Load(3)
	}
	return r.Scanner.Scan(ctx, s)
}

// readCodes hands what the barcode reader reads to the visit.
func (a *appliance) readCodes(ctx context.Context) {
	for {
		s, err := a.reader.Read(ctx)
		if err != nil {
			return
		}
		if err := a.kiosk.Identify(s.Data); err != nil {
			slog.Info("einwurfd: code read is no customer number", "key", session.ErrorKey(err))
		}
	}
}

// alarm raises an alarm event to the central. Events carry codes and
// reasons, never personal data. The uplink may not be up yet (an alarm
// during start-up): then the event is logged and the state shows in the
// next telemetry.
func (a *appliance) alarm(code, detail string) {
	slog.Warn("einwurfd: alarm", "code", code, "detail", detail)
	a.event(wire.SeverityAlarm, code, detail)
}

// event sends an event to the central, best effort.
func (a *appliance) event(severity, code, detail string) {
	if a.uplink == nil {
		return
	}
	ev := wire.Event{KioskID: a.kioskID, Time: time.Now().UTC(), Severity: severity, Code: code, Detail: detail}
	if err := a.uplink.Publish(wire.EventTopic(a.kioskID), ev, false); err != nil {
		slog.Warn("einwurfd: alarm not sent", "code", code, "err", err)
	}
}

// tick ends idle visits, watches the disk and publishes telemetry.
func (a *appliance) tick(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	n := 0
	disk := spool.DiskOK
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.kiosk.Tick()
		u := a.spool.Usage()
		a.lights(a.kiosk.View(), u.State == spool.DiskAlarm)
		if u.State != disk {
			if u.State != spool.DiskOK {
				a.alarm("disk."+u.State, fmt.Sprintf("%d MB free, spool %d MB", u.Free>>20, u.Bytes>>20))
			}
			disk = u.State
		}
		if n++; n%30 == 1 {
			s := a.uplink.Stats()
			a.uplink.Publish(wire.TelemetryTopic(a.kioskID), wire.Telemetry{KioskID: a.kioskID, Time: time.Now().UTC(),
				SpoolEntries: u.Entries, SpoolBytes: u.Bytes, DiskFree: u.Free, DiskState: u.State,
				Quarantined: u.Quarantined, Sent: s.Delivered, Model: a.hw.info.Model, Serial: a.hw.info.Serial,
				TempMilliC: a.hw.temperature()}, false)
		}
	}
}

// demo runs one visit without a person and returns the filed PDF's path.
func (a *appliance) demo(ctx context.Context, code string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := a.reader.Inject(code); err != nil {
		return "", err
	}
	idCtx, idCancel := context.WithTimeout(ctx, 5*time.Second)
	defer idCancel()
	if err := waitFor(idCtx, func() bool { return a.kiosk.View().State == session.Identified }); err != nil {
		return "", errors.New("the simulated reader's code did not start a visit (not a valid number?)")
	}
	if err := a.kiosk.Scan(ctx); err != nil {
		return "", fmt.Errorf("scan: %w", err)
	}
	v := a.kiosk.View()
	slog.Info("demo: scanned", "pages", v.Scanned, "kept", v.Kept)
	if v.Scanned != 6 {
		return "", fmt.Errorf("scanned %d pages, want 6 (three duplex sheets)", v.Scanned)
	}
	rc, err := a.kiosk.Confirm(ctx)
	if err != nil {
		return "", fmt.Errorf("confirm: %w", err)
	}
	slog.Info("demo: accepted", "receipt", rc.Number)
	for {
		select {
		case <-ctx.Done():
			return "", errors.New("no receipt from the central in time")
		case fd := <-a.filed:
			if fd.PacketID != rc.PacketID {
				continue
			}
			if err := waitFor(ctx, func() bool {
				_, err := a.spool.Get(rc.PacketID)
				return errors.Is(err, spool.ErrNotFound)
			}); err != nil {
				return "", errors.New("the spool entry was not deleted after the receipt")
			}
			return fd.PDF, nil
		}
	}
}

func waitFor(ctx context.Context, cond func() bool) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

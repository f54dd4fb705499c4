package main

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/einwurf/einwurf/board"
	"github.com/einwurf/einwurf/board/identity"
	"github.com/einwurf/einwurf/central/ingest"
	"github.com/einwurf/einwurf/drivers/barcode"
	barcodesim "github.com/einwurf/einwurf/drivers/barcode/sim"
	"github.com/einwurf/einwurf/drivers/scanner"
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

	boardsim "github.com/einwurf/einwurf/board/sim"
)

// appliance is the running kiosk; in simulation also its devices' twins,
// the embedded broker and the central.
type appliance struct {
	kioskID string
	kiosk   *session.Kiosk
	spool   *spool.Spool
	uplink  *uplink.Uplink
	scan    scanner.Scanner
	reader  barcode.Reader
	hw      *hardware
	uiURL   string
	service atomic.Bool // service mode, opened with the service key
	closers []func()

	// Simulation only.
	broker        *broker.Broker
	scanner       *scannersim.Server
	simReader     *barcodesim.Reader
	simBoard      *boardsim.Board
	inbox         string
	filed         chan ingest.Filed
	centralSecret string // the central's broker password (tests listen in)
}

// Close stops everything, last started first.
func (a *appliance) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// parts are the concrete pieces the kiosk runs on, chosen by startSim or
// startBoard.
type parts struct {
	cfg      config.Config
	kioskDir string
	key      ed25519.PrivateKey
	brokers  []string
	tls      *tls.Config
	user     string
	password string
	central  wire.CentralKeys
	scanner  scanner.Scanner
	reader   barcode.Reader
	inject   func(string) error // simulation: the UI's "read a barcode"
	board    board.Board
	dogPath  string
	simDog   bool
}

// identify loads (or at first start creates) the device key and settles
// the kiosk id.
func (a *appliance) identify(cfg config.Config, kioskDir string) (ed25519.PrivateKey, error) {
	if err := os.MkdirAll(kioskDir, 0o700); err != nil {
		return nil, err
	}
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
	return key, nil
}

// errServiceMode refuses customers while the service key is turned.
var errServiceMode = errors.New("in service mode")

// startKiosk starts the kiosk proper on p: outbox, uplink, visit, board,
// UI and watchdog. ctx ends them; a.Close waits for them.
func (a *appliance) startKiosk(ctx context.Context, cancel context.CancelFunc, p parts) error {
	var err error
	a.scan, a.reader = p.scanner, p.reader
	// The spool recovers (and may quarantine) before the uplink exists:
	// its alarms wait until the uplink can queue them.
	var early []func()
	a.spool, err = spool.Open(filepath.Join(p.kioskDir, "spool"), spool.Options{MaxBytes: p.cfg.Spool.MaxBytes,
		WarnFree: p.cfg.Spool.WarnFree, AlarmFree: p.cfg.Spool.AlarmFree,
		Alarm: func(code, detail string) {
			if a.uplink == nil {
				early = append(early, func() { a.alarm(code, detail) })
				return
			}
			a.alarm(code, detail)
		}})
	if err != nil {
		return err
	}
	a.uplink = uplink.New(uplink.Config{Brokers: p.brokers, KioskID: a.kioskID, TLS: p.tls,
		Username: p.user, Password: p.password, CentralKey: p.central.SignPub, Spool: a.spool, Version: version})
	for _, f := range early {
		f()
	}
	uplinkDone := make(chan struct{})
	go func() { a.uplink.Run(ctx); close(uplinkDone) }()
	a.closers = append(a.closers, func() { cancel(); <-uplinkDone })

	recipient, err := p.central.Recipient()
	if err != nil {
		return err
	}
	sealer := &submit.Sealer{KioskID: a.kioskID, Key: p.key, Recipient: recipient, Spool: a.spool, Kick: a.uplink.Kick}
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
		WorkDir: filepath.Join(p.kioskDir, "visits"), Document: document.DefaultOptions(), RemoveBlank: p.cfg.RemoveBlank,
		Settings: scanner.Settings{Source: scanner.SourceFeeder, Duplex: p.cfg.Scanner.Duplex,
			Resolution: p.cfg.Scanner.Resolution, ColorMode: scanner.ColorMode(p.cfg.Scanner.Color), Format: scanner.FormatJPEG},
		IdleTimeout: time.Duration(p.cfg.IdleTimeout), CanAccept: ready})
	if err != nil {
		return err
	}
	if err := a.startHardware(ctx, p.board, p.dogPath, p.simDog); err != nil {
		return err
	}
	go a.readCodes(ctx)
	go a.tick(ctx)

	// The UI, on loopback.
	h := ui.New(ui.Config{Kiosk: a.kiosk, InjectCode: p.inject, Ready: ready})
	ln, err := net.Listen("tcp", p.cfg.Listen)
	if err != nil {
		return fmt.Errorf("ui: %w", err)
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
	return nil
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

// alarm raises an alarm event to the central (queued by the uplink, sent
// when it is connected). Events carry codes and reasons, never personal
// data.
func (a *appliance) alarm(code, detail string) {
	slog.Warn("einwurfd: alarm", "code", code, "detail", detail)
	a.uplink.Alarm(code, detail)
}

// notice sends an informational event to the central.
func (a *appliance) notice(code, detail string) {
	a.uplink.Notice(code, detail)
}

// tick ends idle visits, shows the state on the panel and publishes
// telemetry (the uplink itself raises disk alarms).
func (a *appliance) tick(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.kiosk.Tick()
		a.lights(a.kiosk.View(), a.spool.Usage().State == spool.DiskAlarm)
		if n%30 == 0 {
			tm := a.uplink.Telemetry()
			tm.Visits, tm.Pages = a.kiosk.Counts()
			tm.Model, tm.Serial, tm.TempMilliC = a.hw.info.Model, a.hw.info.Serial, a.hw.temperature()
			if err := a.uplink.Publish(wire.TelemetryTopic(a.kioskID), tm, false); err != nil {
				slog.Debug("einwurfd: telemetry not sent", "err", err)
			}
		}
	}
}

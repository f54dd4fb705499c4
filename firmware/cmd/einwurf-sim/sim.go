package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/einwurf/einwurf/board"
	boardsim "github.com/einwurf/einwurf/board/sim"
	"github.com/einwurf/einwurf/central/ingest"
	"github.com/einwurf/einwurf/central/keys"
	barcodesim "github.com/einwurf/einwurf/drivers/barcode/sim"
	"github.com/einwurf/einwurf/drivers/printer/escpos"
	printersim "github.com/einwurf/einwurf/drivers/printer/sim"
	scannersim "github.com/einwurf/einwurf/drivers/scanner/sim"
	"github.com/einwurf/einwurf/firmware/appliance"
	"github.com/einwurf/einwurf/firmware/broker"
	"github.com/einwurf/einwurf/firmware/config"
	"github.com/einwurf/einwurf/firmware/spool"
	"github.com/einwurf/einwurf/kiosk/session"
)

func randomSecret() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// simulation is the appliance on simulated devices, with the embedded
// broker and the central's ingest beside it.
type simulation struct {
	// current is the appliance running now: a reboot (reboot.go) swaps it
	// from its own goroutine while the simulation page's handlers and the
	// tests read it, so it is read through app only.
	current       atomic.Pointer[appliance.Appliance]
	broker        *broker.Broker
	brokerMoved   bool // the default broker port was taken; another was picked
	scanner       *simScanner
	reader        *barcodesim.Reader
	board         atomic.Pointer[boardsim.Board] // the board now (a reboot brings a new one); read by the page's handlers
	badges        *barcodesim.Reader             // the staff badge (Wiegand) reader (service.go)
	usbDir        string                         // stands for a USB stick (service.go)
	inbox         string
	filed         chan ingest.Filed
	centralSecret string // the central's broker password (tests listen in)
	// restart is closed when an update asks for a restart into another
	// application slot (nil without updates; see update.go).
	restart chan struct{}
	// fetchServed counts the chunk requests the update server answered on
	// the broker (update.go).
	fetchServed atomic.Int64
	log         *slog.Logger
	dashboard   *dashboard // the central's monitor (central.go)
	closers     []func()
	// reboots is the in-process restart of the appliance (reboot.go).
	reboots rebooter
}

// app is the appliance running now (nil before it started); after a
// reboot, the restarted one.
func (s *simulation) app() *appliance.Appliance { return s.current.Load() }

// Close stops the appliance, then the simulation around it, last started
// first.
func (s *simulation) Close() {
	s.reboots.stop()
	if a := s.app(); a != nil {
		a.Close()
	}
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

// startBroker starts the embedded broker on f's address; when the default
// address is taken (Debian's mosquitto holds 1883 on many machines) it
// takes a free port instead.
func startBroker(f flags, users map[string]string) (b *broker.Broker, moved bool, err error) {
	b, err = broker.Start(broker.Options{Addr: f.brokerAddr, Users: users})
	if err != nil && !f.brokerSet && errors.Is(err, syscall.EADDRINUSE) {
		b, err = broker.Start(broker.Options{Addr: "127.0.0.1:0", Users: users})
		moved = true
	}
	return b, moved, err
}

// startSim starts the whole appliance in simulation: the kiosk on
// simulated devices, an embedded broker and the central's ingest.
func startSim(ctx context.Context, f flags, log *slog.Logger) (_ *simulation, err error) {
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
		f.brokerAddr, f.brokerSet = "127.0.0.1:0", true
	}
	if f.demo || f.dashboard == "" {
		f.dashboard = "127.0.0.1:0"
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// The configuration's board, simulated (before anything is created):
	// a profile whose lines are not on the simulated chip is refused.
	profile, err := board.LoadProfile(cfg.Board)
	if err != nil {
		return nil, fmt.Errorf("%w: board %q: %v", config.ErrInvalid, cfg.Board, err)
	}
	simBoard, err := boardsim.New(profile)
	if err != nil {
		return nil, fmt.Errorf("%w: board %q cannot be simulated (%v); the simulation runs profiles on chip %s, such as \"sim\"",
			config.ErrInvalid, cfg.Board, err, boardsim.ChipName)
	}
	s := &simulation{filed: make(chan ingest.Filed, 16), log: log}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	ctx, cancel := context.WithCancel(ctx)
	s.closers = append(s.closers, cancel)
	kioskDir := filepath.Join(f.data, "kiosk")
	centralDir := filepath.Join(f.data, "central")
	if err := os.MkdirAll(centralDir, 0o700); err != nil {
		return nil, err
	}
	kioskID, key, err := appliance.Identify(cfg, kioskDir)
	if err != nil {
		return nil, err
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
	if err := reg.Enrol(kioskID, key.Public().(ed25519.PublicKey)); err != nil {
		return nil, err
	}

	// The embedded broker with per-run credentials.
	centralSecret, kioskSecret := randomSecret(), randomSecret()
	s.centralSecret = centralSecret
	s.broker, s.brokerMoved, err = startBroker(f, map[string]string{broker.CentralUser: centralSecret, kioskID: kioskSecret})
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, func() { s.broker.Close() })
	kioskURL, centralURL := s.broker.URL(), s.broker.URL()
	var kioskTLS, centralTLS *tls.Config
	if f.ext != nil {
		kioskURL, centralURL, centralTLS = f.ext.KioskURL, f.ext.CentralURL, f.ext.CentralTLS
		if kioskTLS, err = f.ext.KioskTLS(kioskID); err != nil {
			return nil, err
		}
	}

	// The central's ingest, in-process.
	s.inbox = filepath.Join(centralDir, "inbox")
	// The dashboard's store is the ingest's ledger too: one central
	// database, as einwurf-central's -db.
	if err := s.startDashboard(ctx, f.dashboard, !f.dashboardSet, centralDir, central, reg, centralURL, centralSecret, centralTLS, log); err != nil {
		return nil, err
	}
	in, err := ingest.New(ingest.Config{StateDir: filepath.Join(centralDir, "state"), InboxDir: s.inbox, Ledger: s.dashboard.Store,
		Identity: central.Identity, SignKey: central.SignKey, Kiosks: reg, Logger: log,
		OnFiled: func(fd ingest.Filed) {
			select {
			case s.filed <- fd:
			default:
			}
		}})
	if err != nil {
		return nil, err
	}
	ingestDone := make(chan struct{})
	go func() {
		ingest.Run(ctx, ingest.ClientOptions{Brokers: []string{centralURL}, ClientID: "ingest-sim",
			Username: broker.CentralUser, Password: centralSecret, TLS: centralTLS}, in, "ingest", 2)
		close(ingestDone)
	}()
	s.closers = append(s.closers, func() { cancel(); <-ingestDone })

	// Simulated devices: the scanner through the real eSCL client, the
	// barcode reader, and a board of periph gpiotest pins behind the same
	// board, panel and watchdog code as on a kiosk.
	s.scanner, err = newSimScanner(scannersim.Options{Profile: f.profile, Sheets: 3, Duplex: true, Code: f.code, BlankBacks: []int{2}, Logger: log}, log)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, func() { s.scanner.Close() })
	s.reader = barcodesim.New()
	s.closers = append(s.closers, func() { s.reader.Close() })
	s.board.Store(simBoard)
	up, reboot, err := s.startUpdates(ctx, cfg, f.data, centralDir, kioskID, central, reg, centralSecret)
	if err != nil {
		return nil, err
	}
	svcParts, err := s.simService(kioskDir, central.SignKey)
	if err != nil {
		return nil, err
	}
	prof := escpos.DefaultProfile()
	if prof.Font, err = escpos.SystemFont(); err != nil {
		log.Warn("einwurf-sim: Arabic receipts print in German", "err", err)
	}
	receipts, err := printersim.New(prof)
	if err != nil {
		return nil, err
	}
	if reboot == nil {
		// Without a root file system to switch, the central's reboot
		// command restarts the appliance in-process (reboot.go).
		reboot = s.reboot
	}
	parts := appliance.Parts{Config: cfg, KioskDir: kioskDir, KioskID: kioskID, Key: key, Site: "simulation",
		Version: version, Brokers: []string{kioskURL}, TLS: kioskTLS, Username: kioskID, Password: kioskSecret,
		Central: central.Public(),
		Scanner: s.scanner,
		Reader:  s.reader, Board: simBoard, Watchdog: filepath.Join(kioskDir, "watchdog"), SimWatchdog: true,
		WatchdogTimeout: f.dogTimeout, WatchdogInterval: f.dogInterval, DeviceInterval: f.deviceInterval,
		Printer:    receipts,
		InjectCode: s.reader.Inject, SimRoutes: s.controls(), Log: log, Update: up, Service: svcParts, Reboot: reboot}
	s.reboots.ctx, s.reboots.parts, s.reboots.profile, s.reboots.quit = ctx, parts, profile, make(chan struct{})
	a, err := appliance.Start(ctx, parts)
	if err != nil {
		return nil, err
	}
	s.current.Store(a)
	log.Info("einwurf-sim: started", "kiosk", kioskID, "ui", a.UIURL, "broker", s.broker.URL())
	return s, nil
}

// demo runs one visit without a person and returns the filed PDF's path.
func (s *simulation) demo(ctx context.Context, code string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	// An error still shown from before (a number refused while the kiosk
	// was out of service) is acknowledged first, as a customer taps it
	// away: otherwise it ended the wait below before the reader's code
	// was even handed to the visit.
	s.app().Kiosk.Dismiss()
	if err := s.reader.Inject(code); err != nil {
		return "", err
	}
	// The code starts a visit, or the screen says it is no number (waited
	// for generously: an emulated or loaded machine is slow, and a bad code
	// ends the wait at once).
	idCtx, idCancel := context.WithTimeout(ctx, time.Minute)
	defer idCancel()
	err := waitFor(idCtx, func() bool { v := s.app().Kiosk.View(); return v.State == session.Identified || v.ErrorKey != "" })
	if v := s.app().Kiosk.View(); err != nil || v.State != session.Identified {
		return "", fmt.Errorf("the simulated reader's code did not start a visit (%q: not a valid number?)", v.ErrorKey)
	}
	if err := s.app().Kiosk.Scan(ctx); err != nil {
		return "", fmt.Errorf("scan: %w", err)
	}
	v := s.app().Kiosk.View()
	s.log.Info("demo: scanned", "pages", v.Scanned, "kept", v.Kept)
	if v.Scanned != 6 {
		return "", fmt.Errorf("scanned %d pages, want 6 (three duplex sheets)", v.Scanned)
	}
	rc, err := s.app().Kiosk.Confirm(ctx)
	if err != nil {
		return "", fmt.Errorf("confirm: %w", err)
	}
	s.log.Info("demo: accepted", "receipt", rc.Number)
	for {
		select {
		case <-ctx.Done():
			return "", errors.New("no receipt from the central in time")
		case fd := <-s.filed:
			if fd.PacketID != rc.PacketID {
				continue
			}
			if err := waitFor(ctx, func() bool {
				_, err := s.app().Spool.Get(rc.PacketID)
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

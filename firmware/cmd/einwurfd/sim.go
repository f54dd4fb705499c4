package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

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
	"github.com/einwurf/einwurf/kiosk/session"
)

func randomSecret() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// startSim starts the whole appliance in simulation: the kiosk on
// simulated devices, an embedded broker and the central's ingest.
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
	if err := os.MkdirAll(centralDir, 0o700); err != nil {
		return nil, err
	}
	key, err := a.identify(cfg, kioskDir)
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
	ingestDone := make(chan struct{})
	go func() {
		ingest.Run(ctx, ingest.ClientOptions{Brokers: []string{a.broker.URL()}, ClientID: "ingest-sim",
			Username: broker.CentralUser, Password: centralSecret}, in, "ingest", 2)
		close(ingestDone)
	}()
	a.closers = append(a.closers, func() { cancel(); <-ingestDone })

	// Simulated devices: the scanner through the real eSCL client, the
	// barcode reader, and a board of periph gpiotest pins behind the same
	// board, panel and watchdog code as on a kiosk.
	a.scanner, err = scannersim.Start(scannersim.Options{Sheets: 3, Duplex: true, Code: f.code, BlankBacks: []int{2}})
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, func() { a.scanner.Close() })
	a.simReader = barcodesim.New()
	a.closers = append(a.closers, func() { a.simReader.Close() })
	if a.simBoard, err = boardsim.NewDefault(); err != nil {
		return nil, err
	}
	err = a.startKiosk(ctx, cancel, parts{cfg: cfg, kioskDir: kioskDir, key: key,
		brokers: []string{a.broker.URL()}, user: a.kioskID, password: kioskSecret, central: central.Public(),
		scanner: &refillingScanner{Scanner: escl.New(&http.Client{}, a.scanner.URL()), sim: a.scanner},
		reader:  a.simReader, inject: a.simReader.Inject,
		board: a.simBoard, dogPath: filepath.Join(kioskDir, "watchdog"), simDog: true})
	if err != nil {
		return nil, err
	}
	slog.Info("einwurfd: simulation started", "kiosk", a.kioskID, "ui", a.uiURL, "broker", a.broker.URL())
	return a, nil
}

// refillingScanner puts paper back into the simulated feeder before each
// job, as a customer would.
type refillingScanner struct {
	scanner.Scanner
	sim *scannersim.Server
}

// Scan loads paper if the feeder is empty, then scans.
func (r *refillingScanner) Scan(ctx context.Context, s scanner.Settings) (scanner.Job, error) {
	if r.sim.Feeder() == 0 {
		r.sim.Load(3)
	}
	return r.Scanner.Scan(ctx, s)
}

// demo runs one visit without a person and returns the filed PDF's path.
func (a *appliance) demo(ctx context.Context, code string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := a.simReader.Inject(code); err != nil {
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

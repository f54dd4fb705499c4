package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/einwurf/einwurf/board"
	"github.com/einwurf/einwurf/drivers/barcode"
	"github.com/einwurf/einwurf/drivers/barcode/imager"
	"github.com/einwurf/einwurf/drivers/barcode/wiegand"
	"github.com/einwurf/einwurf/drivers/printer"
	"github.com/einwurf/einwurf/drivers/printer/escpos"
	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/drivers/scanner/escl"
	"github.com/einwurf/einwurf/drivers/scanner/ippusb"
	"github.com/einwurf/einwurf/drivers/usb"
	"github.com/einwurf/einwurf/firmware/appliance"
	"github.com/einwurf/einwurf/firmware/config"
	"github.com/einwurf/einwurf/kiosk/speech"
)

// errNeedConfig: a kiosk has no defaults for its broker and central.
var errNeedConfig = errors.New("a kiosk needs -config (broker, certificates, central keys); on a laptop run einwurf-sim (make run)")

// startBoard starts the appliance on a kiosk's own hardware, as the
// configuration names it: the board profile's GPIO lines, watchdog and
// UART, the USB (or network) scanner, the TLS broker connection.
func startBoard(ctx context.Context, f flags, log *slog.Logger) (*appliance.Appliance, error) {
	return startOn(ctx, f, log, kioskMachine)
}

// startOn is startBoard on the hardware m opens.
func startOn(ctx context.Context, f flags, log *slog.Logger, m machine) (*appliance.Appliance, error) {
	if f.config == "" {
		return nil, errNeedConfig
	}
	cfg, err := config.Load(f.config)
	if err != nil {
		return nil, err
	}
	if f.listen != "" {
		cfg.Listen = f.listen
	}
	// Everything the configuration names is read and checked before the
	// first folder or key is created.
	res, err := cfg.CheckKiosk()
	if err != nil {
		return nil, err
	}
	if err := checkUpdate(cfg, f.data); err != nil {
		return nil, err
	}
	central, tlsCfg, profile := res.Central, res.TLS, res.Profile
	kioskDir := filepath.Join(f.data, "kiosk")
	kioskID, key, err := appliance.Identify(cfg, kioskDir)
	if err != nil {
		return nil, err
	}
	raw, err := m.openBoard(profile)
	if err != nil {
		return nil, fmt.Errorf("board %s: %w", profile.Name, err)
	}
	brd := &ownedBoard{Board: raw}
	reader, err := openReader(brd, cfg.Reader, log)
	if err != nil {
		brd.Close()
		return nil, err
	}
	brd.own(reader)
	badges, err := openBadges(brd, cfg.Service, log)
	if err != nil {
		brd.Close()
		return nil, err
	}
	brd.own(badges)
	scan, host, err := openScanner(cfg.Scanner, m.openUSB)
	if err != nil {
		brd.Close()
		return nil, err
	}
	up, err := updateParts(cfg, f.data, log)
	if err != nil {
		brd.Close()
		return nil, err
	}
	parts := appliance.Parts{Config: cfg, KioskDir: kioskDir, KioskID: kioskID, Key: key,
		Version: version, Brokers: cfg.MQTT.Brokers, TLS: tlsCfg, Central: central,
		Scanner: scan, Reader: reader, Board: brd, Watchdog: profile.Watchdog, Log: log,
		Speaker: speech.NewEspeak(log), Printer: openPrinter(host, m.openUSB, log), Reboot: appliance.SystemReboot,
		Update: up, Service: appliance.ServiceParts{Badges: badges}, USB: host}
	if m.tune != nil {
		m.tune(&parts)
	}
	a, err := appliance.Start(ctx, parts)
	if err != nil {
		return nil, err
	}
	log.Info("einwurfd: started", "kiosk", a.KioskID, "board", profile.Name, "ui", a.UIURL)
	return a, nil
}

// ownedBoard is the board with the readers opened on its lines: closing
// it (the appliance does, last, after its loops ended) closes the readers
// first, then the board. A reader left open goes on reading, and
// reopening, its serial port after the appliance stopped.
type ownedBoard struct {
	board.Board
	readers []io.Closer
}

// own makes Close close r (a reader without Close, or nil, is left alone).
func (b *ownedBoard) own(r barcode.Reader) {
	if c, ok := r.(io.Closer); ok {
		b.readers = append(b.readers, c)
	}
}

// Close closes the readers, then the board.
func (b *ownedBoard) Close() error {
	for _, r := range b.readers {
		r.Close()
	}
	b.readers = nil
	return b.Board.Close()
}

// openPrinter is the receipt printer: ESC/POS on the first USB printer
// interface (7/1/2). Without USB the kiosk shows the receipt on the screen
// only; a printer unplugged reports itself offline, and the customer is
// told before scanning. Lines its character tables cannot carry (Arabic)
// are drawn with the board's font (fonts-dejavu-core).
func openPrinter(host usb.Host, openUSB func() (usb.Host, error), log *slog.Logger) printer.Printer {
	if host == nil {
		h, err := openUSB()
		if err != nil {
			log.Warn("einwurfd: no USB, no receipt printer", "err", err)
			return nil
		}
		host = h
	}
	prof := escpos.DefaultProfile()
	font, err := escpos.SystemFont()
	if err != nil {
		log.Warn("einwurfd: Arabic receipts print in German", "err", err)
	}
	prof.Font = font
	return escpos.NewUSB(host, escpos.WithProfile(prof))
}

// openScanner picks the network eSCL scanner the configuration names, or
// the first IPP-over-USB scanner (then it also returns the USB host).
func openScanner(c config.Scanner, openUSB func() (usb.Host, error)) (scanner.Scanner, usb.Host, error) {
	rules := escl.KnownQuirks()
	for i, r := range c.Quirks {
		if err := r.Check(); err != nil {
			return nil, nil, fmt.Errorf("config: scanner quirk %d: %w", i, err)
		}
		rules = append(rules, r)
	}
	if c.Stall < 0 {
		return nil, nil, fmt.Errorf("config: scanner stall %v is negative", time.Duration(c.Stall))
	}
	timeouts := escl.WithTimeouts(escl.Timeouts{Stall: time.Duration(c.Stall)})
	if c.URL != "" {
		return escl.New(&http.Client{}, c.URL, escl.WithQuirkRules(rules), timeouts), nil, nil
	}
	host, err := openUSB()
	if err != nil {
		return nil, nil, fmt.Errorf("usb: %w", err)
	}
	return ippusb.NewScanner(host, usb.Desc.IsIPP, []ippusb.Option{ippusb.WithQuirkRules(rules)}, timeouts), host, nil
}

// openReader opens the barcode reader the configuration names.
func openReader(b board.Board, c config.Reader, log *slog.Logger) (barcode.Reader, error) {
	if c.Kind == "wiegand" {
		return wiegand.Open(b, wiegand.Config{}, log)
	}
	mode := imager.ModeSSI
	if c.Mode == "plain" {
		mode = imager.ModePlain
	}
	// A reader not plugged in at start is no reason to stay down: the
	// kiosk takes numbers on the keypad, says the reader is absent, and
	// opens it when it is there.
	return imager.OpenWaiting(b, imager.Config{Mode: mode, Baud: c.Baud}, log)
}

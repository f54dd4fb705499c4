// Package appliance assembles the kiosk from its parts: outbox, uplink,
// the customer's visit, front panel, watchdog and the local UI. It picks
// no concrete device: the composition roots do (firmware/cmd/einwurfd on a
// kiosk's board, firmware/cmd/einwurf-sim in simulation) and hand their
// choice over as Parts.
package appliance

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
	"github.com/einwurf/einwurf/board/watchdog"
	"github.com/einwurf/einwurf/drivers/barcode"
	"github.com/einwurf/einwurf/drivers/printer"
	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/drivers/usb"
	"github.com/einwurf/einwurf/firmware/config"
	"github.com/einwurf/einwurf/firmware/spool"
	"github.com/einwurf/einwurf/firmware/submit"
	"github.com/einwurf/einwurf/firmware/update"
	"github.com/einwurf/einwurf/firmware/uplink"
	"github.com/einwurf/einwurf/kiosk/document"
	"github.com/einwurf/einwurf/kiosk/service"
	"github.com/einwurf/einwurf/kiosk/session"
	"github.com/einwurf/einwurf/kiosk/speech"
	"github.com/einwurf/einwurf/kiosk/ui"
	"github.com/einwurf/einwurf/wire"
)

// Parts are the concrete pieces the kiosk runs on, chosen by a
// composition root.
type Parts struct {
	Config   config.Config
	KioskDir string // the kiosk's state: spool, visits, device key
	KioskID  string
	Key      ed25519.PrivateKey // the device key (see Identify)
	Version  string             // reported in births and status
	// Slot and Site are reported in births (the update slot running, the
	// site the kiosk stands at); either may be empty.
	Slot, Site string
	// Reboot restarts the kiosk for the central's reboot command; nil
	// answers that command "not supported".
	Reboot func(context.Context) error

	// The broker connection.
	Brokers  []string
	TLS      *tls.Config
	Username string
	Password string
	Central  wire.CentralKeys

	Scanner scanner.Scanner
	Reader  barcode.Reader
	// Printer prints receipts (nil: the screen receipt only); Speaker
	// reads the screens aloud (nil: no speech).
	Printer printer.Printer
	Speaker speech.Speaker
	Board   board.Board
	// Watchdog is the watchdog device; with SimWatchdog a plain file
	// stands in (same code path).
	Watchdog    string
	SimWatchdog bool
	// WatchdogTimeout and WatchdogInterval are the watchdog's time-out
	// and pet interval (0: 15 s and 5 s); DeviceInterval is how often the
	// devices are asked for their state (0: 2 s). Tests shorten them.
	WatchdogTimeout, WatchdogInterval, DeviceInterval time.Duration
	// TickMaxAge is how long one round of the tick loop (idle visits
	// ended and wiped, lights, telemetry) may take before the watchdog
	// counts the appliance hung (0: 30 s, above a round's bounded waits).
	TickMaxAge time.Duration

	// Simulation only: InjectCode feeds the simulated barcode reader from
	// the UI's form, SimRoutes serves the simulation's controls under
	// /sim/. A kiosk leaves both nil, and the UI registers neither.
	InjectCode func(string) error
	SimRoutes  http.Handler

	// Log receives the appliance's messages (nil: slog.Default()).
	Log *slog.Logger

	// Update configures over-the-air updates (nil: none; see update.go).
	Update *UpdateParts

	// Service configures service mode (service.go).
	Service ServiceParts

	// USB is the USB host the scanner is on (nil: a network scanner):
	// the appliance tells the central when an IPP-USB scanner is
	// unplugged and plugged back (usbwatch.go).
	USB usb.Host
}

// Appliance is the running kiosk.
type Appliance struct {
	// KioskID is the kiosk's id, as the central knows it.
	KioskID string
	// Kiosk is the customer's visit.
	Kiosk *session.Kiosk
	// Spool is the durable outbox.
	Spool *spool.Spool
	// Uplink is the broker connection.
	Uplink *uplink.Uplink
	// UIURL is where the local UI serves, e.g. http://127.0.0.1:8080/.
	UIURL string
	// UILaunch returns a one-time path below UIURL to start the kiosk's
	// browser with: it gives that browser the cookie the visit's
	// thumbnails need (kiosk/ui).
	UILaunch func() string

	log    *slog.Logger
	scan   scanner.Scanner
	reader barcode.Reader
	hw     *hardware
	devs   *devices // the peripherals' state (devices.go)

	rdr *readerWatch // the barcode reader's health (reader.go)
	// tickBeat is the tick loop's heartbeat, which the watchdog checks.
	tickBeat *watchdog.Heartbeat
	// Service mode (service.go): staff's screen, counters, last reads,
	// the log lines kept for the support bundle.
	svc        *service.Mode
	counters   *service.Counters
	reads      *service.ReadLog
	logs       *service.LogRing
	printer    printer.Printer
	visitsSeen int64
	// staff is the staff list in use, staffPath its file, staffIn the
	// lists the central pushes (stafflist.go).
	staff     *service.Staff
	staffPath string
	staffIn   chan []byte
	update    atomic.Pointer[update.Service]
	// offer is an update offer that came before the update service ran.
	offer atomic.Pointer[[]byte]
	// remote carries out the central's commands (commands.go).
	remote       *remote
	lastDelivery atomic.Pointer[time.Time]
	closers      []func()
	cancel       context.CancelFunc // ends the appliance's context (Close calls it first)
}

// Identify loads (or at first start creates) the device key under
// kioskDir and settles the kiosk id: the configuration's, else the board's.
func Identify(cfg config.Config, kioskDir string) (kioskID string, key ed25519.PrivateKey, err error) {
	if err := os.MkdirAll(kioskDir, 0o700); err != nil {
		return "", nil, err
	}
	key, err = identity.LoadOrCreateKey(identity.Paths{Dir: kioskDir}.Key())
	if err != nil {
		return "", nil, err
	}
	kioskID = cfg.KioskID
	if kioskID == "" {
		if kioskID, err = identity.KioskID(identity.Sources{}); err != nil {
			return "", nil, err
		}
	}
	return kioskID, key, nil
}

// ErrServiceMode refuses customers while the service key is turned.
var ErrServiceMode = errors.New("in service mode")

// Start starts the kiosk on p: outbox, uplink, visit, board, UI and
// watchdog. Ending ctx stops them; Close waits for them. On an error
// everything started so far is closed again.
func Start(ctx context.Context, p Parts) (_ *Appliance, err error) {
	a := &Appliance{KioskID: p.KioskID, log: p.Log, scan: p.Scanner, reader: p.Reader}
	if a.log == nil {
		a.log = slog.Default()
	}
	a.logs = service.NewLogRing(500)
	a.log = slog.New(a.logs.Handler(a.log.Handler()))
	if p.Board != nil {
		a.closers = append(a.closers, func() { p.Board.Close() })
	}
	ctx, cancel := context.WithCancel(ctx)
	a.cancel = cancel // Close calls it first
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	// The spool recovers (and may quarantine) before the uplink exists:
	// its alarms wait until the uplink can queue them.
	var early []func()
	a.Spool, err = spool.Open(filepath.Join(p.KioskDir, "spool"), spool.Options{Logger: a.log, MaxBytes: p.Config.Spool.MaxBytes,
		WarnFree: p.Config.Spool.WarnFree, AlarmFree: p.Config.Spool.AlarmFree,
		Alarm: func(code, detail string) {
			if a.Uplink == nil {
				early = append(early, func() { a.Alarm(code, detail) })
				return
			}
			a.Alarm(code, detail)
		}})
	if err != nil {
		return nil, err
	}
	if err := a.startRemote(p); err != nil {
		return nil, err
	}
	a.staffIn = make(chan []byte, staffInLen)
	a.Uplink = uplink.New(uplink.Config{Logger: a.log, Brokers: p.Brokers, KioskID: a.KioskID, TLS: p.TLS,
		Username: p.Username, Password: p.Password, CentralKey: p.Central.SignPub, Spool: a.Spool, Version: p.Version, DeviceKey: a.remote.Key,
		OnUpdateOffer: a.offerUpdate, OnFetchReply: a.fetchReply, OnConnect: a.remote.publishBirth, OnCommand: a.remote.handler.Submit, OnDelivered: a.delivered,
		OnStaffList: a.staffListIn})
	for _, f := range early {
		f()
	}
	uplinkDone := make(chan struct{})
	go func() { a.Uplink.Run(ctx); close(uplinkDone) }()
	a.closers = append(a.closers, func() { cancel(); <-uplinkDone })

	recipient, err := p.Central.Recipient()
	if err != nil {
		return nil, err
	}
	if err := a.startService(&p); err != nil {
		return nil, err
	}
	go a.takeStaffLists(ctx)
	sealer := &submit.Sealer{KioskID: a.KioskID, Key: p.Key, CurrentKey: a.remote.Key, Recipient: recipient, Spool: a.Spool, Kick: a.Uplink.Kick}
	a.Kiosk, err = session.New(session.Config{Scanner: a.scan, Submitter: sealer,
		WorkDir: filepath.Join(p.KioskDir, "visits"), Document: document.DefaultOptions(), RemoveBlank: p.Config.RemoveBlank,
		Settings: scanner.Settings{Source: scanner.SourceFeeder, Duplex: p.Config.Scanner.Duplex,
			Resolution: p.Config.Scanner.Resolution, ColorMode: scanner.ColorMode(p.Config.Scanner.Color), Format: scanner.FormatJPEG},
		IdleTimeout: time.Duration(p.Config.IdleTimeout), CanAccept: a.ready,
		Printer: p.Printer, KioskName: a.KioskID, Labels: ui.ReceiptLabels, Logger: a.log})
	if err != nil {
		return nil, err
	}
	go a.remote.handler.Run(ctx)
	if err := a.startHardware(ctx, p.Board, p.Watchdog, p.SimWatchdog, p.WatchdogTimeout); err != nil {
		return nil, err
	}
	go a.readCodes(ctx)
	if p.Service.Badges != nil {
		go a.readBadges(ctx, p.Service.Badges)
	}
	a.tickBeat = newTickBeat(p.TickMaxAge)
	go a.tick(ctx)
	a.devs = newDevices(p.DeviceInterval)
	devsDone := make(chan struct{})
	go func() { a.watchDevices(ctx); close(devsDone) }()
	a.closers = append(a.closers, func() { cancel(); <-devsDone })
	a.startReaderWatch(ctx, p.DeviceInterval)
	if p.USB != nil {
		usbDone := make(chan struct{})
		go func() { a.watchUSB(ctx, p.USB); close(usbDone) }()
		a.closers = append(a.closers, func() { cancel(); <-usbDone })
	}

	// The UI, on loopback.
	h := ui.New(ui.Config{Kiosk: a.Kiosk, InjectCode: p.InjectCode, Sim: p.SimRoutes, Ready: a.ready, ReaderDown: a.ReaderDown,
		Service: service.NewHandler(a.svc), InService: a.svc.Active,
		Speaker: p.Speaker, Logger: a.log, Keys: panelKeys(ctx, p.Board, a.log)})
	ln, err := net.Listen("tcp", p.Config.Listen)
	if err != nil {
		return nil, fmt.Errorf("ui: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	a.UIURL = "http://" + ln.Addr().String() + "/"
	a.UILaunch = h.LaunchPath
	a.closers = append(a.closers, func() {
		h.Close()
		sctx, c := context.WithTimeout(context.Background(), 2*time.Second)
		defer c()
		srv.Shutdown(sctx)
	})
	if p.Update != nil {
		if err := a.startUpdate(ctx, p, uplinkDone); err != nil {
			return nil, fmt.Errorf("update: %w", err)
		}
	}
	dogDone := make(chan struct{})
	go func() { a.runWatchdog(ctx, p.WatchdogInterval, a.healthChecks(uplinkDone)...); close(dogDone) }()
	a.closers = append(a.closers, func() { cancel(); <-dogDone })
	return a, nil
}

// Close stops everything, last started first.
func (a *Appliance) Close() {
	// First end the appliance's context: closers wait for goroutines (the
	// panel's, the uplink's) that end with it, whatever order they were
	// registered in — also when a start failed half-way.
	if a.cancel != nil {
		a.cancel()
	}
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// ready reports whether the kiosk can take documents now.
func (a *Appliance) ready() error {
	if err := a.svc.Ready(); errors.Is(err, service.ErrActive) {
		return ErrServiceMode
	} else if err != nil {
		return err // the self-test after service mode failed
	}
	if svc := a.update.Load(); svc != nil && svc.OutOfService() {
		return ErrUpdating
	}
	if err := a.remote.ready(); err != nil {
		return err
	}
	if a.devs != nil {
		if err := a.devs.ready(); err != nil {
			return err
		}
	}
	// Asked per screen update: the recent usage, not a read of the whole
	// outbox each time (Spool.Create checks the disk afresh).
	if u := a.Spool.RecentUsage(); u.State == spool.DiskAlarm {
		return spool.ErrFull
	}
	return nil
}

// readCodes hands what the barcode reader reads to the visit, until ctx
// ends (a reader's error does not end it: readScans).
func (a *Appliance) readCodes(ctx context.Context) {
	readScans(ctx, a.log, "customer", a.reader, defaultScanRetry, func(s barcode.Scan) {
		a.reads.Saw(s, time.Now())
		if a.svc.Active() {
			// A test read: only its kind and length are kept.
			a.svc.CodeRead(string(s.Symbology), len(s.Data))
			return
		}
		if err := a.Kiosk.Identify(s.Data); err != nil {
			a.log.Info("einwurfd: code read is no customer number", "key", session.ErrorKey(err))
		}
	})
}

// Alarm raises an alarm event to the central (queued by the uplink, sent
// when it is connected). Events carry codes and reasons, never personal
// data.
func (a *Appliance) Alarm(code, detail string) {
	a.log.Warn("einwurfd: alarm", "code", code, "detail", detail)
	a.Uplink.Alarm(code, detail)
}

// Notice sends an informational event to the central.
func (a *Appliance) Notice(code, detail string) {
	a.Uplink.Notice(code, detail)
}

// tick ends idle visits, shows the state on the panel and publishes
// telemetry (the uplink itself raises disk alarms).
func (a *Appliance) tick(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.tickBeat.Beat()
		a.Kiosk.Tick()
		a.countVisits()
		a.svc.Tick(ctx)
		a.lights(a.Kiosk.View(), a.Spool.RecentUsage().State == spool.DiskAlarm)
		if n%30 == 0 {
			tm := a.telemetry()
			if err := a.Uplink.Publish(wire.TelemetryTopic(a.KioskID), tm, false); err != nil {
				a.log.Debug("einwurfd: telemetry not sent", "err", err)
			}
		}
	}
}

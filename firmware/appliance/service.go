package appliance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strconv"
	"time"

	"github.com/einwurf/einwurf/drivers/barcode"
	"github.com/einwurf/einwurf/drivers/printer"
	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/firmware/spool"
	"github.com/einwurf/einwurf/kiosk/service"
	"github.com/einwurf/einwurf/kiosk/session"
	"github.com/einwurf/einwurf/wire"
)

// ServiceParts configure service mode (kiosk/service).
type ServiceParts struct {
	// StaffList is the signed staff list (default: staff-list.json in
	// the kiosk's folder). Without one nobody can log in.
	StaffList string
	// Badges is the Wiegand reader staff badges are read on (nil: PIN
	// only).
	Badges barcode.Reader
	// USBDir is where a USB stick is mounted for the support bundle
	// ("": none).
	USBDir string
	// Idle ends service mode after so long without a staff action (0:
	// 5 minutes).
	Idle time.Duration
}

// serviceHost is the appliance as service mode sees it.
type serviceHost struct {
	a *Appliance
	p Parts
}

// startService opens the counters and service mode, before the visit
// (whose scanner and printer are counted) exists.
func (a *Appliance) startService(p *Parts) error {
	c, err := service.OpenCounters(p.KioskDir)
	if err != nil {
		return err
	}
	a.counters = c
	// Closed last: what the last second counted is kept.
	a.closers = append(a.closers, func() {
		if err := c.Flush(); err != nil {
			a.log.Warn("einwurfd: counters not written", "err", err)
		}
	})
	a.reads = &service.ReadLog{}
	p.Scanner = service.CountingScanner{Scanner: p.Scanner, C: c}
	a.scan = p.Scanner
	if p.Printer != nil {
		p.Printer = service.CountingPrinter{Printer: p.Printer, C: c}
	}
	a.printer = p.Printer
	staff := service.NewStaff(p.Central.SignPub, nil)
	path := p.Service.StaffList
	if path == "" {
		path = filepath.Join(p.KioskDir, "staff-list.json")
	}
	a.staff, a.staffPath = staff, path
	if err := staff.KeepLock(filepath.Join(p.KioskDir, "pin-lock.json")); err != nil {
		a.log.Warn("einwurfd: PIN entry locked", "err", err)
	}
	if err := staff.LoadFile(path); err != nil {
		a.log.Warn("einwurfd: no staff list: service mode cannot be logged into", "err", err)
	}
	a.svc = service.New(service.Config{Host: &serviceHost{a: a, p: *p}, Staff: staff, Counters: c, Reads: a.reads,
		USBDir: p.Service.USBDir, Idle: p.Service.Idle, LangFile: filepath.Join(p.KioskDir, "service-lang"), Log: a.log})
	return nil
}

// readBadges hands badges read on the Wiegand reader to service mode.
// Outside service mode a badge opens nothing (the key does). A reader's
// error does not end it (readScans); ctx does.
func (a *Appliance) readBadges(ctx context.Context, r barcode.Reader) {
	readScans(ctx, a.log, "badges", r, defaultScanRetry, func(s barcode.Scan) {
		if !a.svc.Active() {
			return
		}
		if err := a.svc.Badge(s.Data); err != nil {
			a.log.Info("einwurfd: badge refused", "err", err)
		}
	})
}

// countVisits adds the visits finished since the last call to the
// persistent counters.
func (a *Appliance) countVisits() {
	v, _ := a.Kiosk.Counts()
	if d := v - a.visitsSeen; d > 0 {
		a.counters.Add(service.CountVisits, d)
		a.visitsSeen = v
	}
}

// CancelVisit implements service.Host: a visit under way is ended and
// its pages wiped; one being sealed is let finish first (a few seconds).
func (h *serviceHost) CancelVisit() bool {
	k := h.a.Kiosk
	running := k.View().State != session.Idle
	for i := 0; i < 100; i++ {
		if err := k.Cancel(); !errors.Is(err, session.ErrState) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return running
}

// Diagnose implements service.Host.
func (h *serviceHost) Diagnose(ctx context.Context) []service.Device {
	a := h.a
	var out []service.Device
	// Scanner: its capabilities (model) and status, asked now.
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	caps, cerr := a.scan.Capabilities(cctx)
	st, serr := a.scan.Status(cctx)
	cancel()
	if serr == nil {
		serr = cerr
	}
	if caps.MakeAndModel == "" {
		caps.MakeAndModel = "Scanner"
	}
	out = append(out, service.ScannerDevice(caps, st, serr))
	// Barcode reader: its health as the reader loop last confirmed it
	// (reader.go), and the last read (when, what kind, how long).
	rh, known := a.readerHealth()
	out = append(out, service.ReaderDevice(rh, known, a.reads.Last()))
	// Receipt printer.
	if a.printer == nil {
		out = append(out, service.Device{ID: "printer", Light: service.Yellow, Key: "dev.printer.none"})
	} else {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ps, perr := a.printer.Status(pctx)
		cancel()
		out = append(out, service.PrinterDevice(ps, perr))
	}
	// Uplink: broker, last delivery, documents waiting, the oldest's age.
	tm := a.telemetry()
	out = append(out, service.UplinkDevice(service.Uplink{Broker: brokerHost(h.p.Brokers), Connected: a.Uplink.Connected(),
		Waiting: tm.SpoolEntries, Oldest: tm.Oldest, Last: tm.LastDelivery}, time.Duration(h.p.Config.Service.WaitingWarn), time.Now()))
	// Disk.
	u := a.Spool.Usage()
	dk := service.Device{ID: "disk", Light: service.Green, Key: "dev.disk.ok",
		Args: map[string]string{"free": bytesText(u.Free), "spool": bytesText(u.Bytes)}}
	switch u.State {
	case spool.DiskAlarm:
		dk.Light, dk.Key = service.Red, "dev.disk.low"
	case spool.DiskWarning:
		dk.Light, dk.Key = service.Yellow, "dev.disk.low"
	}
	out = append(out, dk)
	// Temperature.
	tp := service.Device{ID: "temperature", Light: service.Green, Key: "dev.temperature.none"}
	if mc := a.hw.temperature(); mc != 0 {
		tp.Key, tp.Args = "dev.temperature.ok", map[string]string{"c": strconv.Itoa(mc / 1000)}
		if mc >= 75000 {
			tp.Light, tp.Key = service.Red, "dev.temperature.hot"
		} else if mc >= 65000 {
			tp.Light = service.Yellow
		}
	}
	out = append(out, tp)
	// Watchdog.
	out = append(out, service.Device{ID: "watchdog", Light: service.Green, Key: "dev.watchdog.ok",
		Args: map[string]string{"timeout": a.hw.dog.Timeout().String(), "pets": strconv.FormatUint(a.hw.dog.Pets(), 10)}})
	// Version and update slot.
	slot := h.p.Slot
	if slot == "" {
		slot = "–"
	}
	// And which staff list is in use (the central's seq), so staff see
	// that a pushed list arrived.
	staff := "–"
	if n := a.staff.Seq(); n != 0 {
		staff = strconv.FormatUint(n, 10)
	}
	out = append(out, service.Device{ID: "version", Light: service.Green, Key: "dev.version.ok",
		Args: map[string]string{"version": h.p.Version, "slot": slot, "staff": staff}})
	return out
}

// brokerHost is the broker's host and port, nothing of its credentials.
func brokerHost(brokers []string) string {
	if len(brokers) == 0 {
		return "–"
	}
	u, err := url.Parse(brokers[0])
	if err != nil || u.Host == "" {
		return "–"
	}
	return u.Host
}

// bytesText is a size for people.
func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%d kB", n>>10)
	}
}

// SelfTest implements service.Host: the scanner answers without a fault
// (an empty feeder is fine), the printer can print, the disk is not full.
func (h *serviceHost) SelfTest(ctx context.Context) error {
	a := h.a
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := a.scan.Status(cctx)
	if err != nil {
		return err
	}
	if st.Err != nil && !errors.Is(st.Err, scanner.ErrFeederEmpty) {
		return st.Err
	}
	if a.printer != nil {
		if err := printer.Ready(cctx, a.printer); err != nil {
			return err
		}
	}
	if u := a.Spool.Usage(); u.State == spool.DiskAlarm {
		return spool.ErrFull
	}
	return nil
}

// TestScan implements service.Host: scan what lies in the feeder with
// the kiosk's settings and throw the pages away unread.
func (h *serviceHost) TestScan(ctx context.Context) (int, error) {
	c := h.p.Config.Scanner
	j, err := h.a.scan.Scan(ctx, scanner.Settings{Source: scanner.SourceFeeder, Duplex: c.Duplex,
		Resolution: c.Resolution, ColorMode: scanner.ColorMode(c.Color), Format: scanner.FormatJPEG})
	if err != nil {
		return 0, err
	}
	defer j.Close()
	n := 0
	for {
		p, err := j.Next(ctx)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		_, _ = io.Copy(io.Discard, p.Body)
		p.Body.Close()
		n++
	}
}

// TestPrint implements service.Host.
func (h *serviceHost) TestPrint(ctx context.Context) error {
	if h.a.printer == nil {
		return printer.ErrOffline
	}
	return h.a.printer.Print(ctx, printer.Receipt{Office: "Testdruck / Test print", Kiosk: h.a.KioskID,
		Time: time.Now(), Masked: "-", Team: "-", Pages: 1, Code: "TEST"})
}

// SetOutOfService implements service.Host through the central's path.
func (h *serviceHost) SetOutOfService(ctx context.Context, reason string) error {
	return h.a.remote.service(ctx, reason != "", reason)
}

// OutOfService implements service.Host.
func (h *serviceHost) OutOfService() string {
	if s := h.a.remote.oos.Load(); s != nil {
		return *s
	}
	return ""
}

// SupportBundle implements service.Host: the central's support bundle.
func (h *serviceHost) SupportBundle(ctx context.Context) ([]byte, error) {
	b, err := h.a.remote.bundle(ctx)
	if err != nil {
		return nil, err
	}
	b.KioskID, b.Time = h.a.KioskID, time.Now().UTC()
	return json.MarshalIndent(b, "", "  ")
}

// Audit implements service.Host: the action goes to the central as an
// event.
func (h *serviceHost) Audit(code, detail string) { h.a.Notice(code, detail) }

// serviceTelemetry adds the persistent counters and the wear parts'
// states to telemetry.
func (a *Appliance) serviceTelemetry(tm *wire.Telemetry) {
	if a.counters == nil {
		return
	}
	tm.Counters = a.counters.Counts()
	if tm.Consumables == nil {
		tm.Consumables = map[string]string{}
	}
	for name, c := range a.counters.Consumables() {
		tm.Counters[name+".since"] = c.Since
		tm.Consumables[name] = "ok"
		if c.Due() {
			tm.Consumables[name] = "replace"
		}
	}
}

// serviceFiles are the support bundle's files: the last log lines and the
// devices' diagnostics (neither holds personal data).
func (a *Appliance) serviceFiles() map[string]string {
	files := map[string]string{}
	if a.logs != nil {
		files["log.txt"] = a.logs.Text()
	}
	if a.svc != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h := &serviceHost{a: a, p: a.remote.p}
		if b, err := json.MarshalIndent(h.Diagnose(ctx), "", "  "); err == nil {
			files["devices.json"] = string(b)
		}
	}
	return files
}

// withServiceCounters adds the persistent counters (they take the place
// of the visit's in-memory visits and pages) and the wear parts' pages to
// m, for the support bundle.
func (a *Appliance) withServiceCounters(m map[string]int64) map[string]int64 {
	if a.counters == nil {
		return m
	}
	for k, v := range a.counters.Counts() {
		m[k] = v
	}
	for k, c := range a.counters.Consumables() {
		m[k+".since"] = c.Since
	}
	return m
}

// SupportBundleJSON returns the support bundle as service mode writes it
// to a USB stick (and the central's command returns it): no personal data.
func (a *Appliance) SupportBundleJSON(ctx context.Context) ([]byte, error) {
	return (&serviceHost{a: a, p: a.remote.p}).SupportBundle(ctx)
}

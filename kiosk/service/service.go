// Package service is the kiosk's service mode for facilities staff: the
// key switch opens it, a staff badge or PIN unlocks it, and staff see
// each device's state, run test scans and prints, follow guided fixes,
// keep counters and consumables, take the kiosk out of service and write
// a support bundle. Every action is audited (who: a badge hash or a PIN
// slot; never a customer). Leaving runs a self-test, and customers are
// served again only when it passes.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/einwurf/einwurf/internal/atomicfile"
)

// State is where service mode stands.
type State string

// States.
const (
	// Closed: no service mode; customers are served (if all else is well).
	Closed State = "closed"
	// Locked: the key is turned, nobody has logged in yet.
	Locked State = "locked"
	// Open: staff are logged in.
	Open State = "open"
	// Testing: service mode ended, the self-test runs.
	Testing State = "testing"
	// Failed: the self-test after service mode failed; it is retried and
	// customers are not served until it passes.
	Failed State = "failed"
)

// Errors of service mode.
var (
	// ErrActive refuses customers while service mode is on.
	ErrActive = errors.New("service: in service mode")
	// ErrNotOpen refuses a staff action before anyone logged in.
	ErrNotOpen = errors.New("service: not logged in")
	// ErrReason is an out-of-service reason not on the list.
	ErrReason = errors.New("service: unknown out-of-service reason")
)

// SelfTestError is what Ready reports after a failed self-test: out of
// service for a technical fault.
type SelfTestError struct{ Err error }

func (e SelfTestError) Error() string { return "service: self-test failed: " + e.Err.Error() }

// Unwrap returns the failing check's error.
func (e SelfTestError) Unwrap() error { return e.Err }

// ReasonKey is the customer screen's message key.
func (e SelfTestError) ReasonKey() string { return "out-of-service.technical-fault" }

// Reasons staff may give for taking the kiosk out of service: the keys
// the customer screen has texts for in every language.
var Reasons = []string{"maintenance", "technical-fault", "closed"}

// Host is what service mode asks of the appliance.
type Host interface {
	// CancelVisit ends a customer's visit under way, wiping its pages,
	// and reports whether there was one.
	CancelVisit() bool
	// Diagnose returns every device's line for the screen.
	Diagnose(ctx context.Context) []Device
	// SelfTest checks what customers need (scanner, printer, disk).
	SelfTest(ctx context.Context) error
	// TestScan scans what lies in the feeder and throws the pages away;
	// it returns how many came.
	TestScan(ctx context.Context) (pages int, err error)
	// TestPrint prints a test receipt.
	TestPrint(ctx context.Context) error
	// SetOutOfService takes the kiosk out of service with reason, or back
	// in with "" (the same path as the central's command).
	SetOutOfService(ctx context.Context, reason string) error
	// OutOfService returns the reason in force, "" if none.
	OutOfService() string
	// SupportBundle returns the support bundle (no personal data).
	SupportBundle(ctx context.Context) ([]byte, error)
	// Audit sends an event to the central.
	Audit(code, detail string)
}

// Config configures service mode.
type Config struct {
	Host     Host
	Staff    *Staff
	Counters *Counters
	Reads    *ReadLog
	// USBDir is where a support bundle is written: the mount point of a
	// USB stick ("" : none).
	USBDir string
	// Idle ends service mode after so long without a staff action
	// (default 5 minutes).
	Idle time.Duration
	// Retest is how often a failed self-test is run again (default 10 s).
	Retest time.Duration
	// LangFile keeps the staff's language choice ("": not kept).
	LangFile string
	Now      func() time.Time
	Log      *slog.Logger
}

// Mode is the service mode. Safe for concurrent use; slow work (the
// self-test, test scans, PIN hashing) never runs under its lock.
type Mode struct {
	cfg  Config
	lang *langStore

	mu        sync.Mutex
	state     State
	who       string
	touched   time.Time
	wiped     bool // a customer's visit was ended on entering
	lastTest  time.Time
	testErr   error
	testing   bool
	message   string // the last action's result, a message key
	readArmed bool
}

// New returns service mode, closed.
func New(cfg Config) *Mode {
	if cfg.Idle <= 0 {
		cfg.Idle = 5 * time.Minute
	}
	if cfg.Retest <= 0 {
		cfg.Retest = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Reads == nil {
		cfg.Reads = &ReadLog{}
	}
	return &Mode{cfg: cfg, state: Closed, lang: openLang(cfg.LangFile)}
}

// Snapshot is service mode's state for the screen.
type Snapshot struct {
	State State `json:"state"`
	// Who is logged in: "badge" or "pin" (the kind only).
	Who     string `json:"who,omitempty"`
	Wiped   bool   `json:"wiped,omitempty"`
	Message string `json:"message,omitempty"`
	// SelfTest is the failing check's error key after a failed
	// self-test.
	SelfTest string `json:"self_test,omitempty"`
	// IdleLeft is how long until the idle time-out, in seconds.
	IdleLeft int `json:"idle_left,omitempty"`
}

// Snapshot returns the state.
func (m *Mode) Snapshot() Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Snapshot{State: m.state, Wiped: m.wiped, Message: m.message}
	if m.who != "" {
		s.Who = m.who[:indexColon(m.who)]
	}
	if m.testErr != nil {
		s.SelfTest = errKey(m.testErr)
	}
	if m.state == Open || m.state == Locked {
		s.IdleLeft = int((m.cfg.Idle - m.cfg.Now().Sub(m.touched)).Seconds())
	}
	return s
}

func indexColon(s string) int {
	for i, c := range s {
		if c == ':' {
			return i
		}
	}
	return len(s)
}

// Active reports whether the key has put the kiosk into service mode
// (locked, open or testing).
func (m *Mode) Active() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state == Locked || m.state == Open || m.state == Testing
}

// Ready is nil when service mode lets customers in: closed, with the
// last self-test passed.
func (m *Mode) Ready() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch m.state {
	case Closed:
		return nil
	case Failed:
		return SelfTestError{Err: m.testErr}
	default:
		return ErrActive
	}
}

// audit sends one service action to the central: code "service.<what>",
// detail "who=<badge hash or PIN slot>" and the result.
func (m *Mode) audit(who, what string, err error) {
	detail := "who=" + who
	if err != nil {
		detail += " result=" + errorKey(err)
	} else {
		detail += " result=ok"
	}
	m.cfg.Host.Audit("service."+what, detail)
}

// KeyTurned opens service mode (locked until staff log in). A customer's
// visit under way is ended first and its pages wiped; the screen says so.
func (m *Mode) KeyTurned() {
	wiped := m.cfg.Host.CancelVisit()
	m.mu.Lock()
	m.state, m.who, m.touched, m.wiped, m.message = Locked, "", m.cfg.Now(), wiped, ""
	m.mu.Unlock()
	m.audit("key", "key-turned", nil)
	if wiped {
		m.cfg.Host.Audit("service.visit-wiped", "who=key")
	}
}

// KeyReturned ends service mode and runs the self-test.
func (m *Mode) KeyReturned(ctx context.Context) { m.leave(ctx, "key-returned") }

// leave ends service mode for why and starts the self-test.
func (m *Mode) leave(ctx context.Context, why string) {
	m.mu.Lock()
	if m.state != Locked && m.state != Open {
		m.mu.Unlock()
		return
	}
	who := m.who
	if who == "" {
		who = "key"
	}
	m.state, m.who, m.wiped, m.message, m.readArmed = Testing, "", false, "", false
	m.mu.Unlock()
	m.audit(who, why, nil)
	go m.selfTest(ctx)
}

// selfTest runs the host's self-test and closes service mode when it
// passes.
func (m *Mode) selfTest(ctx context.Context) {
	m.mu.Lock()
	if m.testing {
		m.mu.Unlock()
		return
	}
	m.testing = true
	m.mu.Unlock()
	err := m.cfg.Host.SelfTest(ctx)
	m.mu.Lock()
	m.testing, m.lastTest, m.testErr = false, m.cfg.Now(), err
	changed := false
	if m.state == Testing || m.state == Failed {
		old := m.state
		if err == nil {
			m.state = Closed
		} else {
			m.state = Failed
		}
		changed = old != m.state
	}
	st := m.state
	m.mu.Unlock()
	if changed {
		m.audit("self-test", "self-test", err)
		m.cfg.Log.Info("service: self-test", "state", st, "err", err)
	}
}

// Tick ends service mode after the idle time-out and retries a failed
// self-test; the appliance calls it every second.
func (m *Mode) Tick(ctx context.Context) {
	m.mu.Lock()
	st, idle := m.state, m.cfg.Now().Sub(m.touched) > m.cfg.Idle
	retest := st == Failed && !m.testing && m.cfg.Now().Sub(m.lastTest) >= m.cfg.Retest
	m.mu.Unlock()
	switch {
	case (st == Locked || st == Open) && idle:
		m.leave(ctx, "idle-timeout")
	case retest:
		go m.selfTest(ctx)
	}
	if err := m.cfg.Counters.Flush(); err != nil {
		m.cfg.Log.Warn("service: counters not written", "err", err)
	}
}

// login opens service mode for who after a check.
func (m *Mode) login(how string, check func() (string, error)) error {
	m.mu.Lock()
	if m.state != Locked && m.state != Open {
		m.mu.Unlock()
		return fmt.Errorf("%w: the service key is not turned", ErrNotOpen)
	}
	m.touched = m.cfg.Now()
	m.mu.Unlock()
	who, err := check()
	if err != nil {
		m.audit(how, "login", err)
		return err
	}
	m.mu.Lock()
	ok := m.state == Locked || m.state == Open
	if ok {
		m.state, m.who, m.touched = Open, who, m.cfg.Now()
	}
	m.mu.Unlock()
	if !ok {
		return ErrNotOpen
	}
	m.audit(who, "login", nil)
	return nil
}

// Badge logs in with a badge read on the Wiegand reader.
func (m *Mode) Badge(number string) error {
	return m.login("badge", func() (string, error) { return m.cfg.Staff.Badge(number) })
}

// PIN logs in with a PIN.
func (m *Mode) PIN(pin string) error {
	return m.login("pin", func() (string, error) { return m.cfg.Staff.PIN(pin) })
}

// Logout locks service mode again (the key stays turned).
func (m *Mode) Logout() error {
	who, err := m.staff()
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.state, m.who = Locked, ""
	m.mu.Unlock()
	m.audit(who, "logout", nil)
	return nil
}

// staff returns who is logged in and counts as a staff action for the
// idle time-out.
func (m *Mode) staff() (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != Open {
		return "", ErrNotOpen
	}
	m.touched = m.cfg.Now()
	return m.who, nil
}

// act runs one audited staff action; its result key is shown.
func (m *Mode) act(what string, f func() error) error {
	who, err := m.staff()
	if err != nil {
		return err
	}
	err = f()
	m.audit(who, what, err)
	m.mu.Lock()
	if err != nil {
		m.message = "result." + what + ".failed." + errorKey(err)
	} else {
		m.message = "result." + what + ".ok"
	}
	m.touched = m.cfg.Now()
	m.mu.Unlock()
	return err
}

// Diagnose returns the devices' lines (staff only).
func (m *Mode) Diagnose(ctx context.Context) ([]Device, error) {
	if _, err := m.staff(); err != nil {
		return nil, err
	}
	return m.cfg.Host.Diagnose(ctx), nil
}

// TestScan scans a test sheet.
func (m *Mode) TestScan(ctx context.Context) (int, error) {
	var n int
	err := m.act("test-scan", func() error {
		var err error
		n, err = m.cfg.Host.TestScan(ctx)
		if err == nil && n == 0 {
			err = errors.New("no page")
		}
		return err
	})
	return n, err
}

// TestPrint prints a test receipt.
func (m *Mode) TestPrint(ctx context.Context) error {
	return m.act("test-print", func() error { return m.cfg.Host.TestPrint(ctx) })
}

// ArmTestRead waits for the next code under the barcode reader.
func (m *Mode) ArmTestRead() error {
	return m.act("test-read-armed", func() error {
		m.mu.Lock()
		m.readArmed = true
		m.mu.Unlock()
		return nil
	})
}

// CodeRead takes a code read while service mode is on (the appliance
// routes codes here instead of to a visit): it is a test read, logged by
// kind and length only.
func (m *Mode) CodeRead(kind string, length int) {
	m.mu.Lock()
	armed, who := m.readArmed, m.who
	m.readArmed = false
	if armed {
		m.message = "result.test-read.ok"
		m.touched = m.cfg.Now()
	}
	m.mu.Unlock()
	if armed {
		m.cfg.Host.Audit("service.test-read", fmt.Sprintf("who=%s result=ok kind=%s length=%d", who, kind, length))
	}
}

// SetOutOfService takes the kiosk out of service with a reason from
// Reasons, or back in with "".
func (m *Mode) SetOutOfService(ctx context.Context, reason string) error {
	if reason != "" && !slices.Contains(Reasons, reason) {
		return ErrReason
	}
	what := "out-of-service." + reason
	if reason == "" {
		what = "in-service"
	}
	return m.act(what, func() error { return m.cfg.Host.SetOutOfService(ctx, reason) })
}

// ResetConsumable starts a consumable's count afresh after replacing it.
func (m *Mode) ResetConsumable(name string) error {
	return m.act("reset."+name, func() error {
		if err := m.cfg.Counters.Reset(name); err != nil {
			return err
		}
		return m.cfg.Counters.Flush() // a staff action is kept at once
	})
}

// WriteBundle writes the support bundle to the USB stick and returns the
// file's path. The file's name holds only the time.
func (m *Mode) WriteBundle(ctx context.Context) (string, error) {
	var path string
	err := m.act("bundle-usb", func() error {
		if m.cfg.USBDir == "" {
			return errors.New("no USB stick")
		}
		if fi, err := os.Stat(m.cfg.USBDir); err != nil || !fi.IsDir() {
			return fmt.Errorf("no USB stick at %s", m.cfg.USBDir)
		}
		b, err := m.cfg.Host.SupportBundle(ctx)
		if err != nil {
			return err
		}
		path = filepath.Join(m.cfg.USBDir, "einwurf-support-"+m.cfg.Now().UTC().Format("20060102-150405")+".json")
		return atomicfile.Write(path, b, 0o600)
	})
	return path, err
}

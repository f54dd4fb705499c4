package service

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/internal/testtool"
	"github.com/einwurf/einwurf/wire"
)

const (
	testBadge = "12345678"
	testPIN   = "246813"
)

// fakeHost is a test double of Host that records the audit.
type fakeHost struct {
	mu       sync.Mutex
	visit    bool
	selfErr  error
	audits   []string
	oos      string
	scanned  int
	printed  int
	selfRuns int
}

func (h *fakeHost) CancelVisit() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	v := h.visit
	h.visit = false
	return v
}
func (h *fakeHost) Diagnose(context.Context) []Device {
	return []Device{ScannerDevice(scanner.Capabilities{MakeAndModel: "Sim"}, scanner.Status{}, nil)}
}
func (h *fakeHost) SelfTest(context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.selfRuns++
	return h.selfErr
}
func (h *fakeHost) TestScan(context.Context) (int, error) { h.scanned++; return 2, nil }
func (h *fakeHost) TestPrint(context.Context) error       { h.printed++; return nil }
func (h *fakeHost) SetOutOfService(_ context.Context, r string) error {
	h.oos = r
	return nil
}
func (h *fakeHost) OutOfService() string { return h.oos }
func (h *fakeHost) SupportBundle(context.Context) ([]byte, error) {
	return []byte(`{"kiosk_id":"k"}`), nil
}
func (h *fakeHost) Audit(code, detail string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.audits = append(h.audits, code+" "+detail)
}
func (h *fakeHost) audit() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.audits, "\n")
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func newClock() *clock               { return &clock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)} }

func testStaff(t testing.TB, now func() time.Time) *Staff {
	t.Helper()
	pub, key, _ := ed25519.GenerateKey(nil)
	salt := hex.EncodeToString(make([]byte, 16))
	l := wire.StaffList{Seq: 1, Salt: salt, Badges: []string{wire.BadgeHash(salt, testBadge)},
		PINs: []wire.PINSlot{NewPINSlot(3, testPIN, []byte("0123456789abcdef"))}}
	b, err := wire.SignStaffList(key, l)
	if err != nil {
		t.Fatal(err)
	}
	s := NewStaff(pub, now)
	if err := s.Load(b); err != nil {
		t.Fatal(err)
	}
	// An older or equal list, or a forged one, changes nothing.
	if err := s.Load(b); err == nil {
		t.Fatal("the same list loaded twice")
	}
	_, other, _ := ed25519.GenerateKey(nil)
	l.Seq, l.Badges = 9, nil
	forged, _ := wire.SignStaffList(other, l)
	if err := s.Load(forged); !errors.Is(err, wire.ErrSignature) {
		t.Fatalf("forged list: %v", err)
	}
	return s
}

func TestStaffBadgeAndPIN(t *testing.T) {
	c := newClock()
	s := testStaff(t, c.now)
	who, err := s.Badge(testBadge)
	if err != nil || !strings.HasPrefix(who, "badge:") || strings.Contains(who, testBadge) || len(who) != len("badge:")+12 {
		t.Fatalf("badge: %q %v", who, err)
	}
	if _, err := s.Badge("87654321"); !errors.Is(err, ErrNotStaff) {
		t.Fatalf("unknown badge: %v", err)
	}
	if who, err := s.PIN(testPIN); err != nil || who != "pin:3" {
		t.Fatalf("PIN: %q %v", who, err)
	}
	// FreeTries wrong PINs are free; the next locks entry, and while it is
	// locked even the right PIN is refused without being hashed.
	for i := 0; i < FreeTries; i++ {
		if _, err := s.PIN("000000"); !errors.Is(err, ErrNotStaff) {
			t.Fatalf("try %d: %v", i, err)
		}
	}
	if _, err := s.PIN("111111"); !errors.Is(err, ErrNotStaff) {
		t.Fatal(err)
	}
	var le LockedError
	if _, err := s.PIN(testPIN); !errors.As(err, &le) || !le.Until.Equal(c.now().Add(LockBase)) {
		t.Fatalf("locked: %v", err)
	}
	c.add(LockBase)
	if _, err := s.PIN("222222"); !errors.Is(err, ErrNotStaff) {
		t.Fatal(err)
	}
	if _, err := s.PIN(testPIN); !errors.As(err, &le) || !le.Until.Equal(c.now().Add(2*LockBase)) {
		t.Fatalf("second lock doubles: %v", err)
	}
	c.add(2 * LockBase)
	if who, err := s.PIN(testPIN); err != nil || who != "pin:3" {
		t.Fatalf("after the lock: %q %v", who, err)
	}
}

func newTestMode(t testing.TB) (*Mode, *fakeHost, *clock) {
	t.Helper()
	c := newClock()
	cs, err := OpenCounters(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h := &fakeHost{}
	m := New(Config{Host: h, Staff: testStaff(t, c.now), Counters: cs, Now: c.now, Idle: time.Minute, Retest: time.Second, USBDir: t.TempDir()})
	return m, h, c
}

// waitState waits (generously: the self-test runs in its own goroutine)
// until service mode is in state want.
func waitState(t *testing.T, m *Mode, want State) {
	t.Helper()
	if !testtool.Within(30*time.Second, func() bool { return m.Snapshot().State == want }) {
		t.Fatalf("state %s, want %s", m.Snapshot().State, want)
	}
}

func TestModeWalk(t *testing.T) {
	m, h, c := newTestMode(t)
	ctx := context.Background()
	if m.Ready() != nil || m.Active() {
		t.Fatal("not closed at start")
	}
	h.visit = true
	m.KeyTurned()
	if s := m.Snapshot(); s.State != Locked || !s.Wiped {
		t.Fatalf("key turned: %+v", s)
	}
	if !errors.Is(m.Ready(), ErrActive) {
		t.Fatal("customers served in service mode")
	}
	// Nothing before a login.
	if _, err := m.TestScan(ctx); !errors.Is(err, ErrNotOpen) {
		t.Fatalf("test scan before login: %v", err)
	}
	if err := m.Badge("99999999"); !errors.Is(err, ErrNotStaff) {
		t.Fatal(err)
	}
	if err := m.Badge(testBadge); err != nil {
		t.Fatal(err)
	}
	if n, err := m.TestScan(ctx); err != nil || n != 2 {
		t.Fatal(n, err)
	}
	if err := m.SetOutOfService(ctx, "vandalism"); !errors.Is(err, ErrReason) {
		t.Fatalf("reason not on the list: %v", err)
	}
	if err := m.SetOutOfService(ctx, "maintenance"); err != nil || h.oos != "maintenance" {
		t.Fatal(err)
	}
	p, err := m.WriteBundle(ctx)
	if err != nil || !strings.HasPrefix(filepath.Base(p), "einwurf-support-") {
		t.Fatal(p, err)
	}
	// Idle: service mode ends by itself and the self-test runs; it fails,
	// so the kiosk stays out of service, and retries until it passes.
	h.mu.Lock()
	h.selfErr = scanner.ErrUnplugged
	h.mu.Unlock()
	c.add(2 * time.Minute)
	m.Tick(ctx)
	waitState(t, m, Failed)
	var se SelfTestError
	if err := m.Ready(); !errors.As(err, &se) || se.ReasonKey() != "out-of-service.technical-fault" {
		t.Fatalf("after a failed self-test: %v", err)
	}
	h.mu.Lock()
	h.selfErr = nil
	h.mu.Unlock()
	c.add(2 * time.Second)
	m.Tick(ctx)
	waitState(t, m, Closed)
	if m.Ready() != nil {
		t.Fatal(m.Ready())
	}
	a := h.audit()
	for _, want := range []string{"service.key-turned who=key", "service.visit-wiped", "service.login who=badge result=not-staff",
		"service.login who=badge:", "service.test-scan who=badge:", "service.out-of-service.maintenance who=badge:",
		"service.bundle-usb who=badge:", "service.idle-timeout who=badge:", "service.self-test who=self-test result=unplugged",
		"service.self-test who=self-test result=ok"} {
		if !strings.Contains(a, want) {
			t.Errorf("audit lacks %q:\n%s", want, a)
		}
	}
	if strings.Contains(a, testBadge) {
		t.Fatal("the audit holds a badge number")
	}
}

func TestKeyReturnedRunsSelfTest(t *testing.T) {
	m, h, _ := newTestMode(t)
	m.KeyTurned()
	if err := m.PIN(testPIN); err != nil {
		t.Fatal(err)
	}
	m.KeyReturned(context.Background())
	waitState(t, m, Closed)
	if h.selfRuns != 1 || !strings.Contains(h.audit(), "service.key-returned who=pin:3") {
		t.Fatalf("self-test runs %d, audit:\n%s", h.selfRuns, h.audit())
	}
	if err := m.PIN(testPIN); !errors.Is(err, ErrNotOpen) {
		t.Fatalf("PIN without the key: %v", err)
	}
}

func TestCountersPersist(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCounters(dir)
	if err != nil {
		t.Fatal(err)
	}
	c.Add(CountPages, 5)
	c.Add(CountJams, 1)
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	c2, err := OpenCounters(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := c2.Counts(); got[CountPages] != 5 || got[CountJams] != 1 {
		t.Fatalf("after reopening: %v", got)
	}
	if k := c2.Consumables()[FeedRoller]; k.Since != 5 || k.Threshold != Thresholds[FeedRoller] {
		t.Fatalf("feed roller %+v", k)
	}
	if err := c2.Reset(FeedRoller); err != nil || c2.Consumables()[FeedRoller].Since != 0 || c2.Consumables()[SeparationPad].Since != 5 {
		t.Fatal(err, c2.Consumables())
	}
	if err := c2.Flush(); err != nil {
		t.Fatal(err)
	}
	if c3, err := OpenCounters(dir); err != nil || c3.Consumables()[FeedRoller].Since != 0 {
		t.Fatalf("reset not kept: %v %v", c3.Consumables(), err)
	}
	if err := c2.Reset("toner"); err == nil {
		t.Fatal("reset an unknown part")
	}
	os.WriteFile(filepath.Join(dir, consumableFile), []byte("{"), 0o600)
	if _, err := OpenCounters(dir); err == nil {
		t.Fatal("a broken counters file was taken as zero")
	}
}

func TestHandlerPIN(t *testing.T) {
	m, _, _ := newTestMode(t)
	srv := httptest.NewServer(NewHandler(m))
	defer srv.Close()
	post := func(path, body string) int {
		r, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	if s := post("/service/api/test-scan", ""); s != http.StatusForbidden {
		t.Fatalf("test scan without service mode: %d", s)
	}
	m.KeyTurned()
	if s := post("/service/api/pin", `{"pin":"000000"}`); s != http.StatusForbidden {
		t.Fatalf("wrong PIN: %d", s)
	}
	if s := post("/service/api/pin", `{"pin":`); s != http.StatusBadRequest {
		t.Fatalf("broken body: %d", s)
	}
	if s := post("/service/api/pin", `{"pin":"`+testPIN+`"}`); s != http.StatusOK {
		t.Fatalf("right PIN: %d", s)
	}
	if s := post("/service/api/test-print", ""); s != http.StatusOK {
		t.Fatalf("test print: %d", s)
	}
	r, err := http.Get(srv.URL + "/service/")
	if err != nil || r.StatusCode != http.StatusOK {
		t.Fatal(r, err)
	}
	r.Body.Close()
}

// BenchmarkPINCheck is what one PIN try costs the kiosk (argon2id at the
// staff list's parameters, one slot): the price of a guess.
func BenchmarkPINCheck(b *testing.B) {
	s := testStaff(b, nil)
	for b.Loop() {
		if _, err := s.PIN(testPIN); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/try")
}

// TestStaffUpdate: a pushed list is stored (atomically) and used; the same
// list again is nothing to do; an older or foreign-signed one is refused
// and changes neither the list in use nor the file.
func TestStaffUpdate(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	_, other, _ := ed25519.GenerateKey(nil)
	salt := hex.EncodeToString(make([]byte, 16))
	list := func(k ed25519.PrivateKey, seq uint64, badge string) []byte {
		b, err := wire.SignStaffList(k, wire.StaffList{Seq: seq, Salt: salt, Badges: []string{wire.BadgeHash(salt, badge)}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	path := filepath.Join(t.TempDir(), "staff-list.json")
	s := NewStaff(pub, nil)
	if _, err := s.Badge(testBadge); !errors.Is(err, ErrNoStaffList) {
		t.Fatalf("no list: %v", err)
	}
	v5 := list(key, 5, testBadge)
	if seq, err := s.Update(v5, path); err != nil || seq != 5 || s.Seq() != 5 {
		t.Fatalf("update: %d %v", seq, err)
	}
	if _, err := s.Badge(testBadge); err != nil {
		t.Fatalf("badge after update: %v", err)
	}
	if _, err := s.Update(v5, path); !errors.Is(err, ErrSameList) {
		t.Fatalf("same list: %v", err)
	}
	for name, c := range map[string]struct {
		b    []byte
		want error
	}{
		"older":   {list(key, 4, "99999999"), ErrStaleList},
		"foreign": {list(other, 9, "99999999"), wire.ErrSignature},
		"garbage": {[]byte(`{"type":"staff-list"}`), wire.ErrMalformed},
	} {
		if _, err := s.Update(c.b, path); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
		if got, _ := os.ReadFile(path); !bytes.Equal(got, v5) || s.Seq() != 5 {
			t.Errorf("%s changed the list (seq %d)", name, s.Seq())
		}
		if _, err := s.Badge("99999999"); !errors.Is(err, ErrNotStaff) {
			t.Errorf("%s: its badge works: %v", name, err)
		}
	}
	// A restart reads the stored list.
	r := NewStaff(pub, nil)
	if err := r.LoadFile(path); err != nil || r.Seq() != 5 {
		t.Fatalf("after restart: %d %v", r.Seq(), err)
	}
}

// The scanner's line names its firmware where the device reports one.
func TestScannerDeviceFirmware(t *testing.T) {
	d := ScannerDevice(scanner.Capabilities{MakeAndModel: "fi-7300NX", Firmware: "1.23"}, scanner.Status{ADFState: "ScannerAdfLoaded"}, nil)
	if d.Args["firmware"] != "1.23" || d.Args["model"] != "fi-7300NX" {
		t.Fatalf("%+v", d)
	}
	if d := ScannerDevice(scanner.Capabilities{MakeAndModel: "net"}, scanner.Status{}, nil); d.Args["firmware"] != "–" {
		t.Fatalf("unknown firmware: %+v", d)
	}
}

// TestLangKept: the staff's language is chosen while the key is turned and
// kept in the kiosk's state, so a restart (of the kiosk or its browser)
// shows it; unknown languages are refused and change nothing.
func TestLangKept(t *testing.T) {
	m, _, _ := newTestMode(t)
	path := filepath.Join(t.TempDir(), "service-lang")
	m.lang = openLang(path)
	if m.Lang() != "de" {
		t.Fatalf("default %q", m.Lang())
	}
	if err := m.SetLang("en"); !errors.Is(err, ErrNotOpen) {
		t.Fatalf("key not turned: %v", err)
	}
	m.KeyTurned()
	srv := NewHandler(m)
	post := func(body string) int {
		req := httptest.NewRequest(http.MethodPost, "/service/api/lang", strings.NewReader(body))
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		return w.Code
	}
	if c := post(`{"lang":"tlh"}`); c != http.StatusConflict || m.Lang() != "de" {
		t.Fatalf("unknown language: %d %q", c, m.Lang())
	}
	if c := post(`{"lang":"en"}`); c != http.StatusOK || m.Lang() != "en" {
		t.Fatalf("en: %d %q", c, m.Lang())
	}
	if b, _ := os.ReadFile(path); strings.TrimSpace(string(b)) != "en" {
		t.Fatalf("file %q", b)
	}
	if l := openLang(path).get(); l != "en" {
		t.Fatalf("after a restart: %q", l)
	}
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/service/api/state", nil))
	if !strings.Contains(w.Body.String(), `"lang":"en"`) {
		t.Fatalf("state: %s", w.Body.String())
	}
}

// The connection is yellow once the oldest document has waited longer
// than the configured time, not before; red while not connected.
func TestUplinkWaitingWarn(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	u := Uplink{Broker: "broker:8883", Connected: true, Waiting: 2, Oldest: now.Add(-30 * time.Minute)}
	if d := UplinkDevice(u, 0, now); d.Light != Green {
		t.Fatalf("30 min, default 1 h: %+v", d)
	}
	if d := UplinkDevice(u, 20*time.Minute, now); d.Light != Yellow || d.Args["waiting"] != "2" {
		t.Fatalf("30 min, warn after 20 min: %+v", d)
	}
	if d := UplinkDevice(Uplink{Connected: true, Waiting: 0}, time.Minute, now); d.Light != Green {
		t.Fatalf("nothing waiting: %+v", d)
	}
	u.Connected = false
	if d := UplinkDevice(u, 0, now); d.Light != Red || d.Key != "dev.uplink.down" {
		t.Fatalf("not connected: %+v", d)
	}
}

// TestPINLockKept: the PIN entry's lock survives a restart (the kiosk's
// plug pulled): the same lock, and the next failure doubles it; a broken
// lock file locks entry at its longest.
func TestPINLockKept(t *testing.T) {
	c := newClock()
	path := filepath.Join(t.TempDir(), "pin-lock")
	s := testStaff(t, c.now)
	if err := s.KeepLock(path); err != nil {
		t.Fatal(err)
	}
	for i := 0; i <= FreeTries; i++ {
		s.PIN("000000")
	}
	var le LockedError
	if _, err := s.PIN(testPIN); !errors.As(err, &le) {
		t.Fatalf("not locked: %v", err)
	}
	// Restart: a new Staff on the same file.
	r := testStaff(t, c.now)
	if err := r.KeepLock(path); err != nil {
		t.Fatal(err)
	}
	var le2 LockedError
	if _, err := r.PIN(testPIN); !errors.As(err, &le2) || !le2.Until.Equal(le.Until) {
		t.Fatalf("after a restart: %v, want locked until %v", err, le.Until)
	}
	c.add(LockBase)
	r.PIN("111111")
	if _, err := r.PIN(testPIN); !errors.As(err, &le2) || !le2.Until.Equal(c.now().Add(2*LockBase)) {
		t.Fatalf("the next failure after a restart: %v, want a doubled lock", err)
	}
	c.add(2 * LockBase)
	if who, err := r.PIN(testPIN); err != nil || who != "pin:3" {
		t.Fatalf("after the lock: %q %v", who, err)
	}
	if l := testStaff(t, c.now); l.KeepLock(path) != nil {
		t.Fatal("after success the file holds no lock")
	} else if who, err := l.PIN(testPIN); err != nil || who != "pin:3" {
		t.Fatalf("success was kept: %q %v", who, err)
	}
	os.WriteFile(path, []byte("{garbage"), 0o600)
	b := testStaff(t, c.now)
	if err := b.KeepLock(path); err == nil {
		t.Fatal("a broken lock file was accepted")
	}
	if _, err := b.PIN(testPIN); !errors.As(err, &le2) || !le2.Until.Equal(c.now().Add(LockMax)) {
		t.Fatalf("broken lock file: %v, want locked for %v", err, LockMax)
	}
}

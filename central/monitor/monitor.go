// Package monitor is the operators' side of the central: it follows the
// fleet's status, births, telemetry, events and command results, keeps
// alarms, signs and sends commands (every one in the audit log), looks up
// receipts for the job centre's counter staff, and serves the dashboard
// (local accounts, roles, CSRF protection, expiring sessions), live
// updates over server-sent events and Prometheus metrics.
//
// It shows no personal data: kiosks are named by id, site and a display
// name, events by code; the receipt look-up shows what the receipt itself
// shows.
package monitor

import (
	"context"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/einwurf/einwurf/central/store"
)

// KeyRegister is the central's register of kiosk public keys
// (central/keys.Register implements it).
type KeyRegister interface {
	Lookup(kioskID string) (ed25519.PublicKey, error)
	Enrol(kioskID string, pub ed25519.PublicKey) error
}

// Publisher sends a message to the broker at QoS 1.
type Publisher func(ctx context.Context, topic string, payload []byte, retained bool) error

// Config configures a Monitor.
type Config struct {
	Store  store.Store
	Kiosks KeyRegister
	// SignKey signs commands (the central's signing key, which kiosks know
	// from central.pub.json).
	SignKey ed25519.PrivateKey
	// Publish sends commands; Run sets it when nil.
	Publish Publisher
	// CommandTTL is how long a command stays valid (default 10 minutes).
	CommandTTL time.Duration
	// SessionTTL is how long a login lasts without use (default 8 hours).
	SessionTTL time.Duration
	// SecureCookies marks cookies Secure (set behind TLS).
	SecureCookies bool
	// MetricsToken, when set, is the bearer token /metrics asks of its
	// scraper (Prometheus' authorization.credentials_file); when empty,
	// /metrics is served to anyone who reaches the dashboard's address.
	MetricsToken string
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	Log *slog.Logger
}

// Monitor follows the fleet and serves the dashboard.
type Monitor struct {
	cfg Config
	hub *hub
	mu  sync.Mutex // read-modify-write of one kiosk's state
	pub Publisher  // guarded by mu
	met *metrics
	// hashing holds a token per password check running (see maxHashing).
	hashing chan struct{}
}

// New returns a Monitor.
func New(cfg Config) (*Monitor, error) {
	if cfg.Store == nil || cfg.Kiosks == nil || len(cfg.SignKey) != ed25519.PrivateKeySize {
		return nil, errors.New("monitor: store, key register and signing key are required")
	}
	if cfg.CommandTTL <= 0 {
		cfg.CommandTTL = 10 * time.Minute
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 8 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	m := &Monitor{cfg: cfg, hub: newHub(), pub: cfg.Publish, hashing: make(chan struct{}, maxHashing)}
	m.met = newMetrics(m)
	return m, nil
}

func (m *Monitor) now() time.Time { return m.cfg.Now().UTC() }

// SetPublisher sets how commands reach the broker (Run calls it).
func (m *Monitor) SetPublisher(p Publisher) {
	m.mu.Lock()
	m.pub = p
	m.mu.Unlock()
}

func (m *Monitor) publisher() Publisher {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pub
}

// hub tells the dashboards' event streams that something changed.
type hub struct {
	mu   sync.Mutex
	subs map[chan string]struct{}
}

func newHub() *hub { return &hub{subs: map[chan string]struct{}{}} }

// subscribe returns a channel of change kinds ("fleet", "alarms",
// "commands") and its cancel function.
func (h *hub) subscribe() (chan string, func()) {
	c := make(chan string, 8)
	h.mu.Lock()
	h.subs[c] = struct{}{}
	h.mu.Unlock()
	return c, func() {
		h.mu.Lock()
		delete(h.subs, c)
		h.mu.Unlock()
	}
}

// notify never blocks: a slow stream misses a notice, not the next one.
func (h *hub) notify(kind string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.subs {
		select {
		case c <- kind:
		default:
		}
	}
}

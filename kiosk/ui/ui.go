// Package ui is the kiosk's local web UI: a single page for the touch
// screen and a small JSON API over the visit (kiosk/session). It is served
// on loopback only; the kiosk's browser runs in kiosk mode on the same
// board.
//
// A visit's thumbnails need two things no other local process has: the
// browser's cookie, set only through a one-time launch path
// (Handler.LaunchPath) the kiosk's browser is started with, and the visit's
// capability, which /api/view tells that browser only.
package ui

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/einwurf/einwurf/kiosk/session"
)

//go:embed assets
var assets embed.FS

// Config configures the UI.
type Config struct {
	Kiosk *session.Kiosk
	// InjectCode, when set, offers a "scan a code" field that feeds a
	// simulated barcode reader (simulation only).
	InjectCode func(code string) error
	// Sim, when set, serves the simulation's controls (pages and their
	// API) under /sim/, behind the same loopback and JSON checks
	// (simulation only).
	Sim http.Handler
	// ScanTimeout bounds one scan job (default 5 minutes).
	ScanTimeout time.Duration
	// Ready reports whether the kiosk can take documents now (nil: yes);
	// the reason is shown to the customer before they scan.
	Ready func() error
}

// Handler serves the UI.
type Handler struct {
	cfg Config
	mux *http.ServeMux
	// scanCtx is the parent of scan jobs, ended by Close.
	scanCtx context.Context
	stop    context.CancelFunc

	// browser is the cookie value of the kiosk's browser.
	browser string
	mu      sync.Mutex
	launch  map[string]time.Time // one-time launch tokens → expiry
}

// cookieName names the browser's cookie.
const cookieName = "einwurf-ui"

// launchTTL bounds how long a launch path is good for.
const launchTTL = 2 * time.Minute

func randomToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// New returns the UI's handler.
func New(cfg Config) *Handler {
	if cfg.ScanTimeout <= 0 {
		cfg.ScanTimeout = 5 * time.Minute
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux(), browser: randomToken(), launch: map[string]time.Time{}}
	h.scanCtx, h.stop = context.WithCancel(context.Background())
	static, _ := fs.Sub(assets, "assets")
	files := http.FileServerFS(static)
	h.mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		// A name no embedded file can have is simply not there (the file
		// server would answer 500).
		if !utf8.ValidString(r.URL.Path) || strings.ContainsRune(r.URL.Path, 0) {
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})
	h.mux.HandleFunc("GET /api/view", h.view)
	h.mux.HandleFunc("POST /api/identify", h.identify)
	// Simulation-only routes exist only in simulation.
	if cfg.InjectCode != nil {
		h.mux.HandleFunc("POST /api/sim/barcode", h.barcode)
	}
	if cfg.Sim != nil {
		h.mux.Handle("GET /sim/", cfg.Sim)
		h.mux.Handle("POST /sim/", cfg.Sim)
	}
	h.mux.HandleFunc("POST /api/scan", h.scan)
	h.mux.HandleFunc("POST /api/toggle/{i}", h.toggle)
	h.mux.HandleFunc("POST /api/confirm", h.confirm)
	h.mux.HandleFunc("POST /api/cancel", h.cancel)
	h.mux.HandleFunc("GET /api/thumb/{cap}/{i}", h.thumb)
	h.mux.HandleFunc("GET /launch/{token}", h.launched)
	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	return h
}

// LaunchPath returns a fresh path (below the UI's address) to start the
// kiosk's browser with. It is good once, for two minutes: opening it gives
// that browser the cookie thumbnails need, and then it is spent.
func (h *Handler) LaunchPath() string {
	t := randomToken()
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	for k, exp := range h.launch {
		if now.After(exp) {
			delete(h.launch, k)
		}
	}
	h.launch[t] = now.Add(launchTTL)
	return "/launch/" + t
}

func (h *Handler) launched(w http.ResponseWriter, r *http.Request) {
	t := r.PathValue("token")
	h.mu.Lock()
	exp, ok := h.launch[t]
	delete(h.launch, t)
	h.mu.Unlock()
	if !ok || time.Now().After(exp) {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: h.browser, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// isBrowser reports whether r comes from the browser started with a launch
// path.
func (h *Handler) isBrowser(r *http.Request) bool {
	c, err := r.Cookie(cookieName)
	return err == nil && subtle.ConstantTimeCompare([]byte(c.Value), []byte(h.browser)) == 1
}

// Close ends running scan jobs.
func (h *Handler) Close() { h.stop() }

// ServeHTTP serves a request after checking it comes to a loopback host
// name (against DNS rebinding) and, for POST, carries JSON (against
// cross-site form posts).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	if host != "127.0.0.1" && host != "localhost" && host != "[::1]" && host != "::1" {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	if r.Method == http.MethodPost && r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "JSON only", http.StatusUnsupportedMediaType)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:")
	h.mux.ServeHTTP(w, r)
}

type viewReply struct {
	session.View
	Sim      bool   `json:"sim"`
	NotReady string `json:"not_ready,omitempty"`
	// NotReadyReason is the message key of why, when the Ready error
	// names one (a ReasonKey method): e.g. "out-of-service.maintenance"
	// while an operator has taken the kiosk out of service.
	NotReadyReason string `json:"not_ready_reason,omitempty"`
}

func (h *Handler) reply(w http.ResponseWriter, r *http.Request, status int) {
	v := viewReply{View: h.cfg.Kiosk.View(), Sim: h.cfg.InjectCode != nil}
	if !h.isBrowser(r) {
		v.Thumbs = ""
	}
	if h.cfg.Ready != nil {
		if err := h.cfg.Ready(); err != nil {
			v.NotReady = "cannot-accept"
			var rk interface{ ReasonKey() string }
			if errors.As(err, &rk) {
				v.NotReadyReason = rk.ReasonKey()
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (h *Handler) fail(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error(), "error_key": session.ErrorKey(err)})
}

func (h *Handler) view(w http.ResponseWriter, r *http.Request) { h.reply(w, r, http.StatusOK) }

type numberBody struct {
	Number string `json:"number"`
}

func decode(r *http.Request, v any) error {
	return json.NewDecoder(http.MaxBytesReader(nil, r.Body, 4096)).Decode(v)
}

func (h *Handler) identify(w http.ResponseWriter, r *http.Request) {
	var b numberBody
	if err := decode(r, &b); err != nil {
		h.fail(w, http.StatusBadRequest, err)
		return
	}
	if err := h.cfg.Kiosk.Identify(b.Number); err != nil {
		h.fail(w, statusOf(err), err)
		return
	}
	h.reply(w, r, http.StatusOK)
}

func (h *Handler) barcode(w http.ResponseWriter, r *http.Request) {
	var b numberBody
	if err := decode(r, &b); err != nil {
		h.fail(w, http.StatusBadRequest, err)
		return
	}
	if err := h.cfg.InjectCode(b.Number); err != nil {
		h.fail(w, http.StatusServiceUnavailable, err)
		return
	}
	h.reply(w, r, http.StatusAccepted)
}

func (h *Handler) scan(w http.ResponseWriter, r *http.Request) {
	if v := h.cfg.Kiosk.View(); v.State == session.Scanning || v.State == session.Submitting {
		h.fail(w, http.StatusConflict, session.ErrState)
		return
	}
	if h.cfg.Ready != nil {
		if err := h.cfg.Ready(); err != nil {
			h.fail(w, http.StatusServiceUnavailable, session.ErrCannotAccept)
			return
		}
	}
	go func() {
		ctx, cancel := context.WithTimeout(h.scanCtx, h.cfg.ScanTimeout)
		defer cancel()
		if err := h.cfg.Kiosk.Scan(ctx); err != nil && !errors.Is(err, session.ErrState) {
			slog.Info("ui: scan ended with an error", "key", session.ErrorKey(err))
		}
	}()
	h.reply(w, r, http.StatusAccepted)
}

func (h *Handler) toggle(w http.ResponseWriter, r *http.Request) {
	i, err := strconv.Atoi(r.PathValue("i"))
	if err == nil {
		err = h.cfg.Kiosk.Toggle(i)
	}
	if err != nil {
		h.fail(w, http.StatusConflict, err)
		return
	}
	h.reply(w, r, http.StatusOK)
}

func (h *Handler) confirm(w http.ResponseWriter, r *http.Request) {
	if _, err := h.cfg.Kiosk.Confirm(r.Context()); err != nil {
		h.fail(w, statusOf(err), err)
		return
	}
	h.reply(w, r, http.StatusOK)
}

func (h *Handler) cancel(w http.ResponseWriter, r *http.Request) {
	h.cfg.Kiosk.Cancel()
	h.reply(w, r, http.StatusOK)
}

func (h *Handler) thumb(w http.ResponseWriter, r *http.Request) {
	if !h.isBrowser(r) {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	i, err := strconv.Atoi(r.PathValue("i"))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	width, _ := strconv.Atoi(r.URL.Query().Get("w"))
	if width < 64 {
		width = 240
	}
	// Wider than session.MaxThumbWidth, or another visit's capability:
	// not found.
	png, err := h.cfg.Kiosk.Thumbnail(r.PathValue("cap"), i, width)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Write(png)
}

func statusOf(err error) int {
	if errors.Is(err, session.ErrState) {
		return http.StatusConflict
	}
	switch session.ErrorKey(err) {
	case "invalid-number", "not-a-number":
		return http.StatusUnprocessableEntity
	case "error":
		return http.StatusInternalServerError
	}
	return http.StatusConflict
}

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
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"

	"github.com/einwurf/einwurf/kiosk/session"
	"github.com/einwurf/einwurf/kiosk/speech"
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
	// ReaderDown reports whether the barcode reader is known dead (nil:
	// never): the start screen then asks for the number on the keypad
	// instead of inviting the customer to hold a barcode under a reader
	// that will not answer.
	ReaderDown func() bool
	// Speaker reads the screens aloud (nil: no speech output).
	Speaker speech.Speaker
	// Logger receives the UI's log lines (default: discarded).
	Logger *slog.Logger
	// Service, when set, serves the facilities staff's service mode
	// under /service/ (kiosk/service), behind the same loopback and JSON
	// checks; InService reports whether the service key is turned, and
	// the customer screen then goes to /service/.
	Service   http.Handler
	InService func() bool
	// Keys, when set, delivers the presses of the panel keys beside the
	// headphone jack, by the name of their board signal ("key_prev",
	// "key_next", "key_select", "key_repeat", "key_volume_up",
	// "key_volume_down"). Each press is pushed to the page, which moves
	// the focus, activates, repeats or changes the volume as the keyboard
	// and the on-screen buttons do, so the kiosk can be used without
	// sight. The UI reads it until it is closed or the UI closes.
	Keys <-chan string
}

// panelKeys are the key names the page knows; others are dropped.
var panelKeys = []string{"key_prev", "key_next", "key_select", "key_repeat", "key_volume_up", "key_volume_down"}

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
	// keySubs are the event streams the panel keys go to.
	keySubs map[chan string]struct{}

	// probe is the look of /healthz under way (nil: none); healthWait
	// bounds how long /healthz waits for it.
	probeMu    sync.Mutex
	probe      *probe
	healthWait time.Duration
}

// healthWait is how long /healthz waits for the parts the page needs.
// Their locks are held for moments only: one not free within a second is
// stuck (and the watchdog asks again at its next round).
const healthWait = time.Second

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
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux(), browser: randomToken(), launch: map[string]time.Time{},
		keySubs: map[chan string]struct{}{}, healthWait: healthWait}
	h.scanCtx, h.stop = context.WithCancel(context.Background())
	if cfg.Keys != nil {
		go h.fanKeys(cfg.Keys)
	}
	k := cfg.Kiosk
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
	if cfg.Service != nil {
		h.mux.Handle("GET /service/", cfg.Service)
		h.mux.Handle("POST /service/", cfg.Service)
	}
	if cfg.Sim != nil {
		h.mux.Handle("GET /sim/", cfg.Sim)
		h.mux.Handle("POST /sim/", cfg.Sim)
	}
	h.mux.HandleFunc("GET /api/events", h.events)
	h.mux.HandleFunc("POST /api/type", h.typed)
	h.mux.HandleFunc("POST /api/scan", h.scan)
	h.mux.HandleFunc("POST /api/rescan/{sheet}", h.rescan)
	h.mux.HandleFunc("POST /api/toggle/{i}", h.indexed(k.Toggle))
	h.mux.HandleFunc("POST /api/choose/{i}", h.indexed(k.Choose))
	h.mux.HandleFunc("POST /api/confirm", h.confirm)
	for path, f := range map[string]func() error{
		"/api/accept": k.Accept, "/api/retype": k.Retype, "/api/notmine": k.NotMine, "/api/stop": k.Stop,
		"/api/cancel": k.Cancel, "/api/reprint": k.Reprint,
		"/api/dismiss":    func() error { k.Dismiss(); return nil },
		"/api/still-here": func() error { k.StillHere(); return nil },
	} {
		h.mux.HandleFunc("POST "+path, h.action(f))
	}
	h.mux.HandleFunc("POST /api/lang", h.lang)
	h.mux.HandleFunc("POST /api/speak", h.speak)
	h.mux.HandleFunc("POST /api/volume", h.volume)
	h.mux.HandleFunc("GET /api/thumb/{cap}/{i}", h.thumb)
	h.mux.HandleFunc("GET /launch/{token}", h.launched)
	h.mux.HandleFunc("GET /api/receipt-qr", h.receiptQR)
	h.mux.HandleFunc("GET /healthz", h.healthz)
	return h
}

// healthSteps are the locks every request of the page waits for, in
// order, each named by the reason word /healthz answers when it is stuck:
// the visit's (each view, tap and event stream goes through it), service
// mode's (each view asks it) and the UI's own (each event stream
// subscribes under it). Each is held for moments only, so one that is not
// free within healthWait is stuck. Ready is not asked: it may look at the
// disk, which can be slow without being stuck (a cold cache after boot
// would fail an update's health check); a disk that hangs stops the
// appliance's tick loop, whose heartbeat the watchdog checks.
var healthSteps = []struct {
	name string
	run  func(*Handler)
}{
	{"session", func(h *Handler) { h.cfg.Kiosk.Changes(); h.cfg.Kiosk.View() }},
	{"service", func(h *Handler) {
		if h.cfg.InService != nil {
			h.cfg.InService()
		}
	}},
	{"events", func(h *Handler) { h.mu.Lock(); h.mu.Unlock() }},
}

// probe is one run of the healthSteps. A /healthz that comes while one
// runs waits for that one, so a stuck part holds one goroutine (until it
// is free again), not one per poll of the watchdog.
type probe struct {
	done chan struct{} // closed when all steps answered
	step atomic.Int32  // the step it waits for
}

// healthz answers 200 when the customer's visit answers: every part the
// page's requests wait for did so within healthWait (and the asker's own
// time-out). Else 503, with the stuck part's name ("stuck: session"). The
// watchdog pets the board only while it answers 200; after an update the
// health check's "ui" step asks it too.
func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), h.healthWait)
	defer cancel()
	if part := h.stuck(ctx); part != "" {
		http.Error(w, "stuck: "+part, http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ok\n"))
}

// stuck runs the healthSteps (or waits for the run under way) and returns
// the name of the step that had not answered when ctx ended, "" when all
// answered.
func (h *Handler) stuck(ctx context.Context) string {
	h.probeMu.Lock()
	p := h.probe
	if p == nil {
		p = &probe{done: make(chan struct{})}
		h.probe = p
		go h.runProbe(p)
	}
	h.probeMu.Unlock()
	select {
	case <-p.done:
		return ""
	case <-ctx.Done():
		select {
		case <-p.done:
			return ""
		default:
			return healthSteps[p.step.Load()].name
		}
	}
}

// runProbe runs p's steps; the next /healthz after it starts a new run.
func (h *Handler) runProbe(p *probe) {
	for i, s := range healthSteps {
		p.step.Store(int32(i))
		s.run(h)
	}
	h.probeMu.Lock()
	h.probe = nil
	h.probeMu.Unlock()
	close(p.done)
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
	// Service is set while the service key is turned: the screen
	// belongs to the staff (/service/).
	Service bool `json:"service,omitempty"`
	// ReaderDown is set while the barcode reader is known dead: the
	// keypad is the way in.
	ReaderDown bool `json:"reader_down,omitempty"`
}

func (h *Handler) current(r *http.Request) viewReply {
	v := viewReply{View: h.cfg.Kiosk.View(), Sim: h.cfg.InjectCode != nil}
	if h.cfg.InService != nil {
		v.Service = h.cfg.InService()
	}
	if h.cfg.ReaderDown != nil {
		v.ReaderDown = h.cfg.ReaderDown()
	}
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
	return v
}

func (h *Handler) reply(w http.ResponseWriter, r *http.Request, status int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(h.current(r))
}

// fanKeys hands each panel key press to every open event stream.
func (h *Handler) fanKeys(keys <-chan string) {
	for {
		select {
		case k, ok := <-keys:
			if !ok {
				return
			}
			if !slices.Contains(panelKeys, k) {
				continue
			}
			// Someone is at the kiosk: the idle time starts again.
			h.cfg.Kiosk.StillHere()
			h.mu.Lock()
			for c := range h.keySubs {
				select {
				case c <- k:
				default: // that page is not reading; a key is for now
				}
			}
			h.mu.Unlock()
		case <-h.scanCtx.Done():
			return
		}
	}
}

func (h *Handler) subscribeKeys() (chan string, func()) {
	c := make(chan string, 8)
	h.mu.Lock()
	h.keySubs[c] = struct{}{}
	h.mu.Unlock()
	return c, func() {
		h.mu.Lock()
		delete(h.keySubs, c)
		h.mu.Unlock()
	}
}

// events pushes the view as Server-Sent Events: once at once, then at
// every change of the visit (and every 15 s, so a dead connection is
// noticed); panel key presses as "key" events.
func (h *Handler) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "no streaming", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	// Ready (service mode, disk alarm) is not the visit's: it is looked
	// at every second and sent when it changed.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var last []byte
	sent := time.Time{}
	keys, unsubscribe := h.subscribeKeys()
	defer unsubscribe()
	for {
		changed := h.cfg.Kiosk.Changes()
		b, _ := json.Marshal(h.current(r))
		if !bytes.Equal(b, last) || time.Since(sent) > 15*time.Second {
			if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
				return
			}
			fl.Flush()
			last, sent = b, time.Now()
		}
		select {
		case <-changed:
		case <-tick.C:
		case k := <-keys:
			// A panel key: its own event, after the view it acts on.
			if _, err := fmt.Fprintf(w, "event: key\ndata: {\"key\":%q}\n\n", k); err != nil {
				return
			}
			fl.Flush()
		case <-r.Context().Done():
			return
		case <-h.scanCtx.Done():
			return
		}
	}
}

// action serves a POST that runs f.
func (h *Handler) action(f func() error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := f(); err != nil {
			h.fail(w, statusOf(err), err)
			return
		}
		h.reply(w, r, http.StatusOK)
	}
}

// indexed serves a POST that runs f with the path's {i}.
func (h *Handler) indexed(f func(int) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		i, err := strconv.Atoi(r.PathValue("i"))
		if err != nil {
			h.fail(w, http.StatusBadRequest, err)
			return
		}
		h.action(func() error { return f(i) })(w, r)
	}
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

// typed takes a number typed on the on-screen keypad.
func (h *Handler) typed(w http.ResponseWriter, r *http.Request) {
	var b numberBody
	if err := decode(r, &b); err != nil {
		h.fail(w, http.StatusBadRequest, err)
		return
	}
	h.action(func() error { return h.cfg.Kiosk.Type(b.Number) })(w, r)
}

type langBody struct {
	Lang string `json:"lang"`
}

// languages are the UI's languages (assets/i18n/<lang>.json).
var languages = []string{"de", "de-x-ls", "en", "ar", "tr", "uk", "ru"}

func (h *Handler) lang(w http.ResponseWriter, r *http.Request) {
	var b langBody
	if err := decode(r, &b); err != nil || !slices.Contains(languages, b.Lang) {
		h.fail(w, http.StatusBadRequest, errBadLanguage)
		return
	}
	h.cfg.Kiosk.SetLanguage(b.Lang)
	w.WriteHeader(http.StatusNoContent)
}

var errBadLanguage = errors.New("ui: unknown language")

type speakBody struct {
	Lang string `json:"lang"`
	Text string `json:"text"`
}

// speak reads a screen's text aloud (the page sends what it shows).
func (h *Handler) speak(w http.ResponseWriter, r *http.Request) {
	var b speakBody
	if err := decode(r, &b); err != nil || !slices.Contains(languages, b.Lang) {
		h.fail(w, http.StatusBadRequest, errBadLanguage)
		return
	}
	if h.cfg.Speaker != nil {
		if err := h.cfg.Speaker.Say(b.Lang, b.Text); err != nil {
			h.cfg.Logger.Warn("ui: speech failed", "err", err)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

type volumeBody struct {
	Delta int `json:"delta"`
}

func (h *Handler) volume(w http.ResponseWriter, r *http.Request) {
	var b volumeBody
	if err := decode(r, &b); err != nil || b.Delta < -10 || b.Delta > 10 {
		h.fail(w, http.StatusBadRequest, errors.New("ui: bad volume step"))
		return
	}
	v := 0
	if h.cfg.Speaker != nil {
		v = h.cfg.Speaker.Volume(b.Delta)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]int{"volume": v})
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
	h.background(h.cfg.Kiosk.Scan)
	h.reply(w, r, http.StatusAccepted)
}

// background runs a scan job; the page follows it through the events.
func (h *Handler) background(run func(context.Context) error) {
	go func() {
		ctx, cancel := context.WithTimeout(h.scanCtx, h.cfg.ScanTimeout)
		defer cancel()
		if err := run(ctx); err != nil && !errors.Is(err, session.ErrState) {
			h.cfg.Logger.Info("ui: scan ended with an error", "key", session.ErrorKey(err))
		}
	}()
}

func (h *Handler) rescan(w http.ResponseWriter, r *http.Request) {
	sheet, err := strconv.Atoi(r.PathValue("sheet"))
	if err != nil || h.cfg.Kiosk.View().State != session.Review {
		h.fail(w, http.StatusConflict, session.ErrState)
		return
	}
	h.background(func(ctx context.Context) error { return h.cfg.Kiosk.Rescan(ctx, sheet) })
	h.reply(w, r, http.StatusAccepted)
}

func (h *Handler) confirm(w http.ResponseWriter, r *http.Request) {
	// Not the request's context: a page that goes away must not stop a
	// document half-way into the outbox.
	if _, err := h.cfg.Kiosk.Confirm(h.scanCtx); err != nil {
		h.fail(w, statusOf(err), err)
		return
	}
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

// receiptQR serves the QR code of the receipt on the screen (the kiosk's
// signed statement of the submission: packet, time, pages, PDF hash; no
// personal data) as PNG, to the kiosk's own browser and only while the
// receipt is shown.
func (h *Handler) receiptQR(w http.ResponseWriter, r *http.Request) {
	if !h.isBrowser(r) {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	v := h.cfg.Kiosk.View()
	if v.State != session.Done || v.Receipt == nil || v.Receipt.Statement == "" {
		http.NotFound(w, r)
		return
	}
	m, err := qrcode.NewQRCodeWriter().Encode(v.Receipt.Statement, gozxing.BarcodeFormat_QR_CODE, 360, 360,
		map[gozxing.EncodeHintType]any{gozxing.EncodeHintType_ERROR_CORRECTION: "M", gozxing.EncodeHintType_MARGIN: 4})
	if err != nil {
		h.cfg.Logger.Warn("ui: receipt QR code", "err", err)
		http.NotFound(w, r)
		return
	}
	img := image.NewGray(image.Rect(0, 0, m.GetWidth(), m.GetHeight()))
	for y := range m.GetHeight() {
		for x := range m.GetWidth() {
			if !m.Get(x, y) {
				img.Pix[y*img.Stride+x] = 0xff
			}
		}
	}
	w.Header().Set("Content-Type", "image/png")
	png.Encode(w, img)
}

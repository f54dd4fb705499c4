package service

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"time"
)

//go:embed assets
var assets embed.FS

// Handler serves service mode's screen and API under /service/. The
// kiosk UI mounts it (loopback only, JSON only, as its own routes).
type Handler struct {
	m   *Mode
	mux *http.ServeMux
}

// NewHandler returns the handler of m.
func NewHandler(m *Mode) *Handler {
	h := &Handler{m: m, mux: http.NewServeMux()}
	static, _ := fs.Sub(assets, "assets")
	files := http.StripPrefix("/service/", http.FileServerFS(static))
	h.mux.Handle("GET /service/", files)
	h.mux.HandleFunc("GET /service/api/state", h.state)
	h.mux.HandleFunc("POST /service/api/pin", h.pin)
	h.mux.HandleFunc("POST /service/api/logout", h.do(func(context.Context, map[string]string) (any, error) { return nil, m.Logout() }))
	h.mux.HandleFunc("POST /service/api/test-scan", h.do(func(ctx context.Context, _ map[string]string) (any, error) {
		n, err := m.TestScan(ctx)
		return map[string]int{"pages": n}, err
	}))
	h.mux.HandleFunc("POST /service/api/test-print", h.do(func(ctx context.Context, _ map[string]string) (any, error) {
		return nil, m.TestPrint(ctx)
	}))
	h.mux.HandleFunc("POST /service/api/test-read", h.do(func(context.Context, map[string]string) (any, error) { return nil, m.ArmTestRead() }))
	h.mux.HandleFunc("POST /service/api/out-of-service", h.do(func(ctx context.Context, b map[string]string) (any, error) {
		return nil, m.SetOutOfService(ctx, b["reason"])
	}))
	h.mux.HandleFunc("POST /service/api/reset", h.do(func(_ context.Context, b map[string]string) (any, error) {
		return nil, m.ResetConsumable(b["consumable"])
	}))
	h.mux.HandleFunc("POST /service/api/lang", h.do(func(_ context.Context, b map[string]string) (any, error) {
		return nil, m.SetLang(b["lang"])
	}))
	h.mux.HandleFunc("POST /service/api/bundle", h.do(func(ctx context.Context, _ map[string]string) (any, error) {
		p, err := m.WriteBundle(ctx)
		return map[string]string{"file": p}, err
	}))
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// stateReply is what the screen shows.
type stateReply struct {
	Mode Snapshot `json:"mode"`
	// Lang is the staff's language, kept on the kiosk.
	Lang         string                `json:"lang"`
	Devices      []Device              `json:"devices,omitempty"`
	Counts       map[string]int64      `json:"counts,omitempty"`
	Consumables  map[string]Consumable `json:"consumables,omitempty"`
	OutOfService string                `json:"out_of_service,omitempty"`
	Reasons      []string              `json:"reasons"`
	LastRead     *LastRead             `json:"last_read,omitempty"`
}

func (h *Handler) state(w http.ResponseWriter, r *http.Request) {
	rep := stateReply{Mode: h.m.Snapshot(), Reasons: Reasons, Lang: h.m.Lang()}
	if rep.Mode.State == Open {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		rep.Devices = h.m.cfg.Host.Diagnose(ctx)
		cancel()
		rep.Counts, rep.Consumables = h.m.cfg.Counters.Counts(), h.m.cfg.Counters.Consumables()
		rep.OutOfService = h.m.cfg.Host.OutOfService()
		rep.LastRead = h.m.cfg.Reads.Last()
	}
	writeJSON(w, http.StatusOK, rep)
}

func (h *Handler) pin(w http.ResponseWriter, r *http.Request) {
	var b struct {
		PIN string `json:"pin"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1024)).Decode(&b); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad-request"})
		return
	}
	err := h.m.PIN(b.PIN)
	var le LockedError
	switch {
	case errors.As(err, &le):
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"error": "locked", "seconds": int(time.Until(le.Until).Seconds()) + 1})
	case err != nil:
		writeJSON(w, http.StatusForbidden, map[string]string{"error": errorKey(err)})
	default:
		writeJSON(w, http.StatusOK, h.m.Snapshot())
	}
}

// do serves one staff action with a small JSON body of strings.
func (h *Handler) do(f func(context.Context, map[string]string) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b := map[string]string{}
		if r.ContentLength != 0 {
			if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&b); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad-request"})
				return
			}
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Minute)
		defer cancel()
		v, err := f(ctx, b)
		if err != nil {
			status := http.StatusConflict
			if errors.Is(err, ErrNotOpen) {
				status = http.StatusForbidden
			}
			writeJSON(w, status, map[string]string{"error": errorKey(err)})
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

// errorKey is the screen's key for an error.
func errorKey(err error) string {
	switch {
	case errors.Is(err, ErrNotOpen):
		return "not-open"
	case errors.Is(err, ErrNotStaff):
		return "not-staff"
	case errors.Is(err, ErrNoStaffList):
		return "no-staff-list"
	case errors.Is(err, ErrReason):
		return "bad-reason"
	case errors.Is(err, ErrLang):
		return "bad-lang"
	case errors.As(err, new(LockedError)):
		return "locked"
	}
	return errKey(err)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

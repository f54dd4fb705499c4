package service

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzHandler posts arbitrary bodies to service mode's API while it is
// locked (key turned, nobody logged in): nothing but a clear 4xx comes
// back, and nothing changes (no action runs, nobody is logged in).
func FuzzHandler(f *testing.F) {
	for _, s := range []string{`{"pin":"000000"}`, `{"reason":"maintenance"}`, `{"consumable":"feed-roller"}`, `{`, `[]`, `{"pin":1}`, ""} {
		f.Add("pin", s)
		f.Add("out-of-service", s)
		f.Add("reset", s)
	}
	m, h, _ := newTestMode(f)
	m.KeyTurned()
	srv := NewHandler(m)
	f.Fuzz(func(t *testing.T, action, body string) {
		if action == "" || strings.Trim(action, "abcdefghijklmnopqrstuvwxyz-") != "" {
			return // the API's actions are words; other paths are the router's
		}
		req := httptest.NewRequest(http.MethodPost, "/service/api/"+action, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %q: %d", action, body, w.Code)
		}
		if s := m.Snapshot(); s.State != Locked {
			t.Fatalf("%s %q opened service mode: %+v", action, body, s)
		}
		if h.oos != "" || h.scanned != 0 || h.printed != 0 {
			t.Fatalf("%s %q ran an action while locked", action, body)
		}
	})
}

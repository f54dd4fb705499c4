package service

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/einwurf/einwurf/wire"
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

// FuzzStaffUpdate feeds arbitrary bytes to the staff list the central
// pushes: anything but a list signed with the central's key and newer than
// the one held is refused with an error and changes neither the list in
// use nor the stored file.
func FuzzStaffUpdate(f *testing.F) {
	pub, key, _ := ed25519.GenerateKey(nil)
	salt := hex.EncodeToString(make([]byte, 16))
	held, err := wire.SignStaffList(key, wire.StaffList{Seq: 5, Salt: salt, Badges: []string{wire.BadgeHash(salt, testBadge)}})
	if err != nil {
		f.Fatal(err)
	}
	older, _ := wire.SignStaffList(key, wire.StaffList{Seq: 4, Salt: salt})
	f.Add(held)
	f.Add(older)
	f.Add([]byte(`{"type":"staff-list","body":{"seq":9},"sig":""}`))
	f.Add([]byte(`{`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "staff-list.json")
		if err := os.WriteFile(path, held, 0o600); err != nil {
			t.Fatal(err)
		}
		s := NewStaff(pub, nil)
		if err := s.LoadFile(path); err != nil {
			t.Fatal(err)
		}
		seq, err := s.Update(b, path)
		stored, _ := os.ReadFile(path)
		if err != nil {
			if s.Seq() != 5 || !bytes.Equal(stored, held) {
				t.Fatalf("refused (%v) but changed: seq %d", err, s.Seq())
			}
			return
		}
		// Accepted: only a list signed with the central's key, newer.
		if _, verr := wire.OpenStaffList(pub, b); verr != nil || seq <= 5 || s.Seq() != seq || !bytes.Equal(stored, b) {
			t.Fatalf("accepted %q: seq %d, verify %v", b, seq, verr)
		}
	})
}

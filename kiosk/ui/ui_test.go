package ui

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/drivers/scanner/escl"
	"github.com/einwurf/einwurf/drivers/scanner/sim"
	"github.com/einwurf/einwurf/kiosk/document"
	"github.com/einwurf/einwurf/kiosk/session"
)

type submitter struct{ n int }

// testStatement stands in for the kiosk's signed statement in the QR code.
const testStatement = "EINWURF1:TEST-STATEMENT-0123456789"

func (s *submitter) Submit(_ context.Context, d session.Document) (session.Receipt, error) {
	if _, err := os.Stat(d.PDF); err != nil {
		return session.Receipt{}, err
	}
	s.n++
	return session.Receipt{PacketID: "abc", Number: "ABCD-1234-EF56", Accepted: time.Now(), Statement: testStatement}, nil
}

func newKiosk(t *testing.T) (*session.Kiosk, *submitter, *sim.Server) {
	t.Helper()
	srv, err := sim.Start(sim.Options{Sheets: 2, Duplex: true, Code: "035F083761", BlankBacks: []int{2}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	sub := &submitter{}
	k, err := session.New(session.Config{Scanner: escl.New(&http.Client{}, srv.URL()), Submitter: sub,
		WorkDir:  filepath.Join(t.TempDir(), "visits"),
		Settings: scanner.Settings{Source: scanner.SourceFeeder, Duplex: true, Resolution: 150, ColorMode: scanner.ColorRGB24, Format: scanner.FormatJPEG},
		Document: document.DefaultOptions(), RemoveBlank: true})
	if err != nil {
		t.Fatal(err)
	}
	return k, sub, srv
}

func loopbackServer(t *testing.T, h http.Handler) *httptest.Server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &httptest.Server{Listener: ln, Config: &http.Server{Handler: h}}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func TestRequestChecks(t *testing.T) {
	k, _, _ := newKiosk(t)
	h := New(Config{Kiosk: k})
	defer h.Close()
	s := loopbackServer(t, h)
	// A foreign Host header (DNS rebinding) is refused.
	req, _ := http.NewRequest("GET", s.URL+"/api/view", nil)
	req.Host = "evil.example:8080"
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign host: %v %v", r.StatusCode, err)
	}
	// A form post (cross-site) is refused.
	r, err := http.Post(s.URL+"/api/identify", "application/x-www-form-urlencoded", strings.NewReader("number=035F083761"))
	if err != nil || r.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("form post: %v %v", r.StatusCode, err)
	}
	r, _ = http.Post(s.URL+"/api/identify", "application/json", strings.NewReader(`{"number":"nope"}`))
	if r.StatusCode != http.StatusUnprocessableEntity || k.View().State != session.Idle {
		t.Fatalf("bad number: %d %s", r.StatusCode, k.View().State)
	}
	// Without a simulation there are no simulation routes.
	for _, path := range []string{"/api/sim/barcode", "/sim/api/board"} {
		r, _ = http.Post(s.URL+path, "application/json", strings.NewReader(`{"number":"035F083761"}`))
		if r.StatusCode != http.StatusNotFound && r.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("sim endpoint %s in production: %d", path, r.StatusCode)
		}
	}
}

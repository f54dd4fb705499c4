package ui

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/einwurf/einwurf/kiosk/session"
)

// getHealthz asks /healthz with no time-out of its own (only a guard far
// above any bound, so a hang fails the test instead of stalling it) and
// returns the status and the body's first line.
func getHealthz(t *testing.T, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/healthz", nil)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("/healthz: %v", err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, strings.TrimSpace(string(b))
}

// gate blocks its callers while shut.
type gate chan struct{}

func (g gate) wait() { <-g }

// /healthz answers 200 while the visit answers, and 503 naming the stuck
// part while the visit's lock is held (a stuck session) or the UI's own
// lock is held — and it answers then too, bounded by its own wait, never
// leaving the asker hanging. A slow readiness (it may look at the disk) is
// no hang.
func TestHealthz(t *testing.T) {
	k, err := session.New(session.Config{})
	if err != nil {
		t.Fatal(err)
	}
	readyGate := make(gate)
	var readyStuck atomic.Bool
	cfg := Config{Kiosk: k, InService: func() bool { return false }, Ready: func() error {
		if readyStuck.Load() {
			readyGate.wait()
		}
		return nil
	}}
	// Two handlers over the one visit: one that waits long (its 200 does
	// not depend on how busy the machine is), one with a short wait for
	// the stuck cases (the part stays stuck: any wait ends in 503).
	patient := New(cfg)
	defer patient.Close()
	patient.healthWait = time.Minute
	quick := New(cfg)
	defer quick.Close()
	quick.healthWait = 50 * time.Millisecond
	ps, qs := loopbackServer(t, patient), loopbackServer(t, quick)

	if code, body := getHealthz(t, ps.URL); code != http.StatusOK || body != "ok" {
		t.Fatalf("healthy: %d %q", code, body)
	}

	// The session stuck: every screen update, tap and event stream waits
	// for its lock.
	release := k.HoldLock()
	start := time.Now()
	code, body := getHealthz(t, qs.URL)
	waited := time.Since(start)
	if code != http.StatusServiceUnavailable || body != "stuck: session" {
		release()
		t.Fatalf("session stuck: %d %q", code, body)
	}
	if waited < quick.healthWait {
		release()
		t.Fatalf("answered 503 after %v, before its wait of %v", waited, quick.healthWait)
	}
	// Asked again while stuck: it waits for the same look, so a stuck lock
	// holds one goroutine, not one per poll.
	quick.probeMu.Lock()
	first := quick.probe
	quick.probeMu.Unlock()
	if code, body := getHealthz(t, qs.URL); code != http.StatusServiceUnavailable || body != "stuck: session" {
		release()
		t.Fatalf("session stuck, asked again: %d %q", code, body)
	}
	quick.probeMu.Lock()
	again := quick.probe
	quick.probeMu.Unlock()
	if first == nil || again != first {
		release()
		t.Fatalf("a second look while the first waits: %p, then %p", first, again)
	}
	release()
	if code, body := getHealthz(t, ps.URL); code != http.StatusOK {
		t.Fatalf("session free again: %d %q", code, body)
	}

	// Readiness waits (it looks at the outbox's disk): slow, not stuck —
	// /healthz does not ask it, even with the short wait.
	readyStuck.Store(true)
	code, body = getHealthz(t, qs.URL)
	close(readyGate)
	if code != http.StatusOK {
		t.Fatalf("readiness slow: %d %q", code, body)
	}

	// The UI's own lock (event streams subscribe under it) held.
	quick.mu.Lock()
	code, body = getHealthz(t, qs.URL)
	quick.mu.Unlock()
	if code != http.StatusServiceUnavailable || body != "stuck: events" {
		t.Fatalf("UI lock held: %d %q", code, body)
	}
}

// BenchmarkHealthz is what one poll of the watchdog costs the UI: the
// handler's look at the locks (a goroutine and three lock round trips),
// without the network.
func BenchmarkHealthz(b *testing.B) {
	k, err := session.New(session.Config{})
	if err != nil {
		b.Fatal(err)
	}
	h := New(Config{Kiosk: k, InService: func() bool { return false }})
	defer h.Close()
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/healthz", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}

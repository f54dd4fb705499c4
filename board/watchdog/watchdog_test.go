package watchdog

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func fileDog(t *testing.T) (*Watchdog, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "watchdog")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := Open(path, 15*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return w, path
}

func content(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFilePetAndMagicClose(t *testing.T) {
	w, path := fileDog(t)
	if w.Timeout() != 15*time.Second {
		t.Fatalf("timeout %v", w.Timeout())
	}
	for range 3 {
		if err := w.Pet(); err != nil {
			t.Fatal(err)
		}
	}
	if got := content(t, path); got != "kkk" {
		t.Fatalf("file = %q, want kkk", got)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := content(t, path); got != "kkkV" {
		t.Fatalf("file = %q, want kkkV (magic close last)", got)
	}
	if err := w.Pet(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Pet after Close = %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
}

func TestOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir, 10*time.Second); err == nil || !strings.Contains(err.Error(), "neither") {
		t.Fatalf("directory: err = %v", err)
	}
	if _, err := Open(filepath.Join(dir, "missing"), 10*time.Second); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing: err = %v", err)
	}
	if _, err := Open(filepath.Join(dir, "x"), 500*time.Millisecond); err == nil {
		t.Fatal("sub-second time-out accepted")
	}
	// /dev/null is a character device without watchdog ioctls: the
	// device path runs and fails clearly instead of pretending.
	if _, err := Open("/dev/null", 10*time.Second); err == nil || !strings.Contains(err.Error(), "set time-out") {
		t.Fatalf("/dev/null: err = %v", err)
	}
}

func TestRunPetsOnlyWhileHealthy(t *testing.T) {
	w, path := fileDog(t)
	var healthy atomic.Bool
	healthy.Store(true)
	var rounds atomic.Int32
	check := Check{Name: "scanner", Run: func(ctx context.Context) error {
		rounds.Add(1)
		if !healthy.Load() {
			return errors.New("scanner not answering")
		}
		return nil
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, 2*time.Millisecond, nil, check) }()
	waitFor(t, func() bool { return w.Pets() >= 3 })
	healthy.Store(false)
	// Let a round that may already have passed its check finish petting.
	r := rounds.Load()
	waitFor(t, func() bool { return rounds.Load() >= r+2 })
	pets := w.Pets()
	r = rounds.Load()
	waitFor(t, func() bool { return rounds.Load() >= r+5 })
	if got := w.Pets(); got != pets {
		t.Fatalf("petted %d times while unhealthy", got-pets)
	}
	healthy.Store(true)
	waitFor(t, func() bool { return w.Pets() > pets })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := content(t, path)
	if strings.Count(got, "k") != int(w.Pets()) || !strings.HasSuffix(got, "V") {
		t.Fatalf("file = %q after %d pets", got, w.Pets())
	}
}

func TestRunRefusesBadInterval(t *testing.T) {
	w, _ := fileDog(t)
	defer w.Close()
	for _, iv := range []time.Duration{0, 15 * time.Second, time.Minute} {
		if err := w.Run(context.Background(), iv, nil); err == nil {
			t.Fatalf("interval %v accepted", iv)
		}
	}
}

func TestHeartbeat(t *testing.T) {
	now := time.Unix(100, 0)
	h := &Heartbeat{MaxAge: 5 * time.Second, now: func() time.Time { return now }}
	h.Beat()
	c := h.Check("uplink")
	if err := Healthy(context.Background(), time.Second, []Check{c}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(6 * time.Second)
	err := Healthy(context.Background(), time.Second, []Check{c})
	if !errors.Is(err, ErrUnhealthy) || !strings.Contains(err.Error(), "uplink") {
		t.Fatalf("err = %v", err)
	}
	h.Beat()
	if err := Healthy(context.Background(), time.Second, []Check{c}); err != nil {
		t.Fatal(err)
	}
}

func TestHealthyBoundsSlowCheck(t *testing.T) {
	slow := Check{Name: "ui", Run: func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}}
	err := Healthy(context.Background(), 10*time.Millisecond, []Check{slow})
	if !errors.Is(err, ErrUnhealthy) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

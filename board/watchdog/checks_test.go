package watchdog

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHTTPCheck(t *testing.T) {
	status := http.StatusOK
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	defer srv.Close()
	c := HTTPCheck("ui", srv.URL+"/healthz", nil)
	if err := Healthy(context.Background(), time.Second, []Check{c}); err != nil {
		t.Fatal(err)
	}
	status = http.StatusServiceUnavailable
	if err := Healthy(context.Background(), time.Second, []Check{c}); !errors.Is(err, ErrUnhealthy) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("err = %v", err)
	}
	// The answer's first line says why (the UI: which part is stuck).
	body = "stuck: session\nmore\n"
	if err := Healthy(context.Background(), time.Second, []Check{c}); !errors.Is(err, ErrUnhealthy) ||
		!strings.HasSuffix(err.Error(), `ui: status 503: "stuck: session"`) {
		t.Fatalf("err = %v", err)
	}
	srv.Close()
	if err := Healthy(context.Background(), time.Second, []Check{c}); !errors.Is(err, ErrUnhealthy) {
		t.Fatalf("closed server: err = %v", err)
	}
}

func TestOpenSim(t *testing.T) {
	path := filepath.Join(t.TempDir(), "watchdog")
	w, err := OpenSim(path, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	w.Pet()
	w.Close()
	if got := content(t, path); got != "kV" {
		t.Fatalf("file = %q", got)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %#o", fi.Mode().Perm())
	}
	// Reopened, it appends.
	w, err = OpenSim(path, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	w.Pet()
	w.Close()
	if got := content(t, path); got != "kVkV" {
		t.Fatalf("file = %q", got)
	}
	if _, err := OpenSim("/dev/null", 10*time.Second); err == nil {
		t.Fatal("OpenSim accepted a device")
	}
}

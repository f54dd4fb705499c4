package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/einwurf/einwurf/central/keys"
	"github.com/einwurf/einwurf/central/monitor"
	"github.com/einwurf/einwurf/central/store/sqlite"
)

func TestKeygenEnrol(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"keygen", "-keys", dir}, &out, &out); err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]os.FileMode{"age-identity.txt": 0o600, "sign.key": 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != mode {
			t.Fatalf("%s: %v %v", name, fi, err)
		}
	}
	if err := run(context.Background(), []string{"keygen", "-keys", dir}, &out, &out); err == nil {
		t.Fatal("second keygen overwrote the keys")
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	b64 := base64.StdEncoding.EncodeToString(pub)
	if err := run(context.Background(), []string{"enrol", "-keys", dir, "-kiosk", "k-1", "-pub", b64}, &out, &out); err != nil {
		t.Fatal(err)
	}
	got, err := keys.OpenRegister(filepath.Join(dir, "kiosks.json")).Lookup("k-1")
	if err != nil || !got.Equal(pub) {
		t.Fatalf("lookup: %v", err)
	}
	if err := run(context.Background(), []string{"enrol", "-keys", dir, "-kiosk", "K/1", "-pub", b64}, &out, &out); err == nil {
		t.Fatal("bad kiosk id enrolled")
	}
	if _, err := keys.LoadPublic(filepath.Join(dir, "central.pub.json")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "enrolled k-1") {
		t.Fatalf("output %q", out.String())
	}
}

func TestHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"-h"}, &out, &errb); err != nil {
		t.Fatalf("-h: %v", err)
	}
	for name := range table {
		if !strings.Contains(out.String(), "  "+name+" ") {
			t.Errorf("-h does not list %s:\n%s", name, out.String())
		}
		var sub bytes.Buffer
		if err := run(context.Background(), []string{name, "-h"}, &sub, &errb); err != nil {
			t.Errorf("%s -h: %v", name, err)
		}
		if !strings.Contains(sub.String(), "einwurf-central "+name) || !strings.Contains(sub.String(), "flags:") {
			t.Errorf("%s -h printed %q", name, sub.String())
		}
	}
	if err := run(context.Background(), nil, &out, &errb); !errors.Is(err, errUsage) {
		t.Errorf("no subcommand: %v", err)
	}
	if err := run(context.Background(), []string{"frobnicate"}, &out, &errb); !errors.Is(err, errUsage) {
		t.Errorf("unknown subcommand: %v", err)
	}
}

func TestUseradd(t *testing.T) {
	db := filepath.Join(t.TempDir(), "c.db")
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("correct horse battery\n"), 0o600)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"useradd", "-db", db, "-login", "ada", "-role", "admin", "-password-file", pw}, &out, &out); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(pw, []byte("short\n"), 0o600)
	if err := run(context.Background(), []string{"useradd", "-db", db, "-login", "bob", "-role", "admin", "-password-file", pw}, &out, &out); err == nil {
		t.Fatal("short password accepted")
	}
	os.WriteFile(pw, []byte("correct horse battery\n"), 0o600)
	if err := run(context.Background(), []string{"useradd", "-db", db, "-login", "eve", "-role", "root", "-password-file", pw}, &out, &out); err == nil {
		t.Fatal("unknown role accepted")
	}
	st, err := sqlite.Open(context.Background(), db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, err := st.Account(context.Background(), "ada")
	if err != nil || a.Role != "admin" || !strings.HasPrefix(a.Hash, "$argon2id$") {
		t.Fatalf("%+v %v", a, err)
	}
	if ok, _ := monitor.CheckPassword(a.Hash, "correct horse battery"); !ok {
		t.Fatal("stored hash does not match the password")
	}
	if _, err := st.Account(context.Background(), "bob"); err == nil {
		t.Fatal("bob saved")
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServe starts the dashboard (its broker unreachable: the monitor keeps
// retrying, the pages are served) and stops it with the context; with
// -metrics-token-file, /metrics answers only with the token, and a file
// with too short a token stops serve before it listens.
func TestServe(t *testing.T) {
	dir := t.TempDir()
	keyDir := filepath.Join(dir, "keys")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"keygen", "-keys", keyDir}, &out, &out); err != nil {
		t.Fatal(err)
	}
	args := []string{"serve", "-keys", keyDir, "-db", filepath.Join(dir, "c.db"), "-listen", "127.0.0.1:0", "-broker", "tcp://127.0.0.1:1"}
	get := func(url, token string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	base, stop := startServe(t, args)
	for path, want := range map[string]int{"login": 200, "metrics": 200, "": 200} {
		if code := get(base+path, ""); code != want {
			t.Errorf("GET /%s: %d", path, code)
		}
	}
	stop()

	token := "9f86d081884c7d659a2feaa0c55ad015" // 32 hex digits
	tokenFile := filepath.Join(dir, "metrics.token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base, stop = startServe(t, append(args, "-metrics-token-file", tokenFile))
	if code := get(base+"metrics", ""); code != http.StatusUnauthorized {
		t.Errorf("GET /metrics without the token: %d", code)
	}
	if code := get(base+"metrics", token); code != http.StatusOK {
		t.Errorf("GET /metrics with the token: %d", code)
	}
	stop()

	if err := os.WriteFile(tokenFile, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), append(args, "-metrics-token-file", tokenFile), &out, &out); !errors.Is(err, errMetricsToken) {
		t.Fatalf("serve with a short token: %v, want %v", err, errMetricsToken)
	}
}

// startServe runs einwurf-central with args (a serve command) until the
// returned stop is called, and returns the dashboard's base URL.
func startServe(t *testing.T, args []string) (base string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var so, se syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, &so, &se) }()
	deadline := time.Now().Add(20 * time.Second)
	for base == "" {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no address printed; stderr: %s", se.String())
		}
		if s, ok := strings.CutPrefix(strings.TrimSpace(so.String()), "dashboard on "); ok {
			base = s
		}
		time.Sleep(20 * time.Millisecond)
	}
	return base, func() {
		t.Helper()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("serve did not stop")
		}
	}
}

package tuf

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/einwurf/einwurf/ota/durable"
	"github.com/einwurf/einwurf/ota/durable/crashfs"
	"github.com/einwurf/einwurf/ota/internal/tuftest"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// kiosk provisions a client with the repository's current root.
func kiosk(t *testing.T, r *tuftest.Repo, now *time.Time) (*Client, *crashfs.FS) {
	t.Helper()
	fs := crashfs.New()
	fs.MkdirAll("/tuf")
	if err := durable.WriteFile(fs, "/tuf/root.json", r.RootBytes()); err != nil {
		t.Fatal(err)
	}
	c, err := New(fs, "/tuf", r.Fetcher(ErrNotFound, ErrTooLong), func() time.Time { return *now })
	if err != nil {
		t.Fatal(err)
	}
	return c, fs
}

func TestRefreshAndTarget(t *testing.T) {
	now := t0
	r := tuftest.New(t, 3, 2, t0)
	// A name and custom data with everything canonical JSON must get right.
	name := "bundles/einwurf-1.2.0 \"ü<&>\\.tar"
	payload := []byte("the bundle")
	r.AddTarget(name, payload, map[string]any{"version": "1.2.0", "kind": "bundle", "note": "ä\"\\<>&\u2028"})
	r.Publish()
	c, fs := kiosk(t, r, &now)
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	tg, err := c.Target(name)
	if err != nil {
		t.Fatal(err)
	}
	if tg.Length != int64(len(payload)) || tg.SHA256 != sha256.Sum256(payload) {
		t.Fatalf("target %+v", tg)
	}
	if _, ok := r.TargetFiles[tg.Path]; !ok {
		t.Fatalf("path %q not served", tg.Path)
	}
	var custom struct{ Version, Kind string }
	if err := json.Unmarshal(tg.Custom, &custom); err != nil || custom.Version != "1.2.0" {
		t.Fatalf("custom %s: %v", tg.Custom, err)
	}
	if _, err := c.Target("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown target: %v", err)
	}
	// After a restart the trusted metadata is there without fetching.
	c2, err := New(fs, "/tuf", tuftest.FetchFunc(func(context.Context, string, int64) ([]byte, error) {
		return nil, errors.New("offline")
	}), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Target(name); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}

func TestOverHTTP(t *testing.T) {
	now := t0
	r := tuftest.New(t, 1, 1, t0)
	r.AddTarget("a", []byte("x"), nil)
	r.Publish()
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	fs := crashfs.New()
	fs.MkdirAll("/tuf")
	durable.WriteFile(fs, "/tuf/root.json", r.RootBytes())
	c, err := New(fs, "/tuf", HTTPFetcher{Client: srv.Client(), Base: srv.URL + "/metadata/"}, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Target("a"); err != nil {
		t.Fatal(err)
	}
}

func TestRootRotation(t *testing.T) {
	now := t0
	r := tuftest.New(t, 3, 2, t0)
	r.AddTarget("a", []byte("x"), nil)
	r.Publish()
	c, _ := kiosk(t, r, &now)
	old := r.Keys["root"]
	// v2 replaces every root key (and the timestamp key): signed by two old
	// keys (the old threshold) and the new ones.
	r.RevokeKeys("root")
	for i := 0; i < 3; i++ {
		r.AddKey("root")
	}
	r.RevokeKeys("timestamp")
	r.AddKey("timestamp")
	r.Root.Signed.Version = 2
	r.SignRoot(append(old[:2:2], r.Keys["root"]...)...)
	// v3 is signed by the new keys only.
	r.Root.Signed.Version = 3
	r.SignRoot()
	r.SignTimestamp()
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c.Root().Version != 3 {
		t.Fatalf("root version %d, want 3", c.Root().Version)
	}
	// A v4 signed by the old keys (compromised, but rotated out) is refused.
	r.Root.Signed.Version = 4
	r.SignRoot(old...)
	if err := c.Refresh(context.Background()); !errors.Is(err, ErrSignature) {
		t.Fatalf("root signed by rotated-out keys: %v", err)
	}
	if c.Root().Version != 3 {
		t.Fatal("refused root was trusted")
	}
}

// refusal sets up a client that trusts a repository, lets attack change the
// repository (and the clock), and expects Refresh to fail with want, with
// the trusted targets unchanged (the roles above the refused one may
// legitimately have moved on).
func refusal(t *testing.T, want error, attack func(r *tuftest.Repo, now *time.Time)) {
	t.Helper()
	now := t0
	r := tuftest.New(t, 3, 2, t0)
	r.AddTarget("a", []byte("v1"), map[string]string{"version": "1"})
	r.Publish()
	c, fs := kiosk(t, r, &now)
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	before, _ := fs.ReadFile("/tuf/targets.json")
	attack(r, &now)
	err := c.Refresh(context.Background())
	if !errors.Is(err, want) {
		t.Fatalf("Refresh = %v, want %v", err, want)
	}
	if after, _ := fs.ReadFile("/tuf/targets.json"); string(after) != string(before) {
		t.Fatal("trusted targets changed by a refused refresh")
	}
	now = t0 // the trusted (not refused) target is still what it was
	if tg, err := c.Target("a"); err != nil || tg.Length != 2 {
		t.Fatalf("trusted target after refusal: %+v %v", tg, err)
	}
}

func TestRefusals(t *testing.T) {
	t.Run("root below threshold", func(t *testing.T) {
		refusal(t, ErrSignature, func(r *tuftest.Repo, _ *time.Time) {
			r.Root.Signed.Version = 2
			r.SignRoot(r.Keys["root"][0]) // one of a threshold of two: a compromised key
		})
	})
	t.Run("root duplicate signature counts once", func(t *testing.T) {
		refusal(t, ErrSignature, func(r *tuftest.Repo, _ *time.Time) {
			r.Root.Signed.Version = 2
			b := r.SignRoot(r.Keys["root"][0])
			var e map[string]any
			json.Unmarshal(b, &e)
			sigs := e["signatures"].([]any)
			e["signatures"] = append(sigs, sigs[0])
			b, _ = json.Marshal(e)
			r.Files["2.root.json"] = b
		})
	})
	t.Run("bad signature on targets", func(t *testing.T) {
		refusal(t, ErrSignature, func(r *tuftest.Repo, _ *time.Time) {
			r.AddTarget("a", []byte("v2"), map[string]string{"version": "2"})
			r.Publish()
			name := fmt.Sprintf("%d.targets.json", r.Targets.Signed.Version)
			b := r.Files[name]
			if b == nil {
				t.Fatalf("no %s: %v", name, r.Files)
			}
			r.Files[name] = []byte(strings.Replace(string(b), `"length": 2`, `"length": 3`, 1))
		})
	})
	t.Run("timestamp by an unknown key", func(t *testing.T) {
		refusal(t, ErrSignature, func(r *tuftest.Repo, _ *time.Time) {
			r.Keys["timestamp"][0] = r.Keys["targets"][0]
			r.SignTimestamp()
		})
	})
	t.Run("expired timestamp", func(t *testing.T) {
		refusal(t, ErrExpired, func(r *tuftest.Repo, now *time.Time) {
			*now = now.Add(25 * time.Hour)
		})
	})
	t.Run("expired root", func(t *testing.T) {
		refusal(t, ErrExpired, func(r *tuftest.Repo, now *time.Time) {
			*now = now.Add(400 * 24 * time.Hour)
		})
	})
	t.Run("mixed snapshot", func(t *testing.T) {
		refusal(t, ErrMismatch, func(r *tuftest.Repo, _ *time.Time) {
			oldSnap := r.Files[fmt.Sprintf("%d.snapshot.json", r.Snap.Signed.Version)]
			r.Publish()
			// the timestamp names the new snapshot; the server sends the old one's content
			r.Files[fmt.Sprintf("%d.snapshot.json", r.Snap.Signed.Version)] = oldSnap
		})
	})
	t.Run("endless timestamp", func(t *testing.T) {
		refusal(t, ErrTooLong, func(r *tuftest.Repo, _ *time.Time) {
			r.Files["timestamp.json"] = append(r.Files["timestamp.json"], make([]byte, MaxTimestampLength)...)
		})
	})
}

// The rollback test above needs the client to have seen the newer
// timestamp first.
func TestTimestampRollback(t *testing.T) {
	now := t0
	r := tuftest.New(t, 1, 1, t0)
	c, _ := kiosk(t, r, &now)
	old := r.Files["timestamp.json"]
	r.Publish()
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.Files["timestamp.json"] = old
	if err := c.Refresh(context.Background()); !errors.Is(err, ErrRollback) {
		t.Fatalf("older timestamp: %v", err)
	}
}

func FuzzParseRoot(f *testing.F) {
	r := tuftest.New(f, 2, 1, t0)
	f.Add(r.RootBytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		root, err := ParseRoot(b)
		if err != nil {
			return
		}
		_ = verifyRole(root, RoleRoot, b) // must not panic
	})
}

func FuzzParseTimestamp(f *testing.F) {
	r := tuftest.New(f, 1, 1, t0)
	f.Add(r.Files["timestamp.json"])
	root, _ := ParseRoot(r.RootBytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := ParseTimestamp(b); err != nil {
			return
		}
		_ = verifyRole(root, RoleTimestamp, b)
	})
}

func FuzzParseSnapshot(f *testing.F) {
	r := tuftest.New(f, 1, 1, t0)
	f.Add(r.Files["1.snapshot.json"])
	f.Fuzz(func(t *testing.T, b []byte) { ParseSnapshot(b) })
}

func FuzzParseTargets(f *testing.F) {
	r := tuftest.New(f, 1, 1, t0)
	r.AddTarget("a/b", []byte("x"), map[string]string{"version": "1"})
	r.Publish()
	f.Add(r.Files["2.targets.json"])
	f.Fuzz(func(t *testing.T, b []byte) { ParseTargets(b) })
}

func FuzzCanonical(f *testing.F) {
	f.Add([]byte(`{"b":[1,"\u00fc\"",{"a":null,"c":true}],"a":-3}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := canonical(b)
		if err != nil {
			return
		}
		again, err := canonical(out)
		if err != nil || string(again) != string(out) {
			t.Fatalf("canonical not idempotent: %q → %q (%v)", out, again, err)
		}
	})
}

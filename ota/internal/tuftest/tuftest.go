// Package tuftest builds TUF repositories with go-tuf's own metadata
// package, for the tests of ota's client: honest ones, and ones an attacker
// would serve (rolled back, frozen, mixed, signed by too few keys).
package tuftest

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Repo is a repository in memory.
type Repo struct {
	t       testing.TB
	mu      sync.Mutex
	Root    *metadata.Metadata[metadata.RootType]
	Targets *metadata.Metadata[metadata.TargetsType]
	Snap    *metadata.Metadata[metadata.SnapshotType]
	Time    *metadata.Metadata[metadata.TimestampType]
	// Keys are each role's signing keys; Signers which of them sign.
	Keys map[string][]ed25519.PrivateKey
	// Files are the served metadata files (name → bytes), TargetFiles the
	// served targets (path below the targets URL → bytes).
	Files       map[string][]byte
	TargetFiles map[string][]byte
	// Now is the repository's clock (expiry is set relative to it).
	Now time.Time

	published bool
}

// New makes a repository whose root role has rootKeys keys with threshold
// rootThreshold; the other roles have one key each.
func New(t testing.TB, rootKeys, rootThreshold int, now time.Time) *Repo {
	r := &Repo{t: t, Keys: map[string][]ed25519.PrivateKey{}, Files: map[string][]byte{},
		TargetFiles: map[string][]byte{}, Now: now}
	r.Root = metadata.Root(now.Add(365 * 24 * time.Hour))
	r.Targets = metadata.Targets(now.Add(30 * 24 * time.Hour))
	r.Snap = metadata.Snapshot(now.Add(7 * 24 * time.Hour))
	r.Time = metadata.Timestamp(now.Add(24 * time.Hour))
	for _, role := range []string{"root", "targets", "snapshot", "timestamp"} {
		n := 1
		if role == "root" {
			n = rootKeys
		}
		for i := 0; i < n; i++ {
			r.AddKey(role)
		}
	}
	r.Root.Signed.Roles["root"].Threshold = rootThreshold
	r.SignRoot()
	r.Publish()
	return r
}

// AddKey makes a new key for role and adds it to the (unsigned) root.
func (r *Repo) AddKey(role string) ed25519.PrivateKey {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		r.t.Fatal(err)
	}
	k, err := metadata.KeyFromPublicKey(priv.Public())
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.Root.Signed.AddKey(k, role); err != nil {
		r.t.Fatal(err)
	}
	r.Keys[role] = append(r.Keys[role], priv)
	return priv
}

// RevokeKeys removes every key of role from the (unsigned) root.
func (r *Repo) RevokeKeys(role string) {
	for _, id := range append([]string(nil), r.Root.Signed.Roles[role].KeyIDs...) {
		if err := r.Root.Signed.RevokeKey(id, role); err != nil {
			r.t.Fatal(err)
		}
	}
	r.Keys[role] = nil
}

func sign[T metadata.Roles](t testing.TB, m *metadata.Metadata[T], keys []ed25519.PrivateKey) {
	for _, k := range keys {
		s, err := signature.LoadSigner(k, crypto.Hash(0))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Sign(s); err != nil {
			t.Fatal(err)
		}
	}
}

func bytesOf[T metadata.Roles](t testing.TB, m *metadata.Metadata[T]) []byte {
	b, err := m.ToBytes(true)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// SignRoot signs the root with keys (default: all root keys) and publishes
// it as VERSION.root.json.
func (r *Repo) SignRoot(keys ...ed25519.PrivateKey) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(keys) == 0 {
		keys = r.Keys["root"]
	}
	r.Root.ClearSignatures()
	sign(r.t, r.Root, keys)
	b := bytesOf(r.t, r.Root)
	r.Files[fmt.Sprintf("%d.root.json", r.Root.Signed.Version)] = b
	return b
}

// RootBytes returns the current signed root (to provision a client).
func (r *Repo) RootBytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.Files[fmt.Sprintf("%d.root.json", r.Root.Signed.Version)]
}

// AddTarget adds a target with custom metadata (JSON of custom) and serves
// its bytes under the consistent-snapshot path.
func (r *Repo) AddTarget(name string, data []byte, custom any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	tf, err := metadata.TargetFile().FromBytes(name, data, "sha256")
	if err != nil {
		r.t.Fatal(err)
	}
	if custom != nil {
		b, err := json.Marshal(custom)
		if err != nil {
			r.t.Fatal(err)
		}
		raw := json.RawMessage(b)
		tf.Custom = &raw
	}
	r.Targets.Signed.Targets[name] = tf
	r.TargetFiles[TargetPath(name, tf.Hashes["sha256"].String())] = data
}

// TargetPath is a target's consistent-snapshot path.
func TargetPath(name, hashHex string) string {
	i := strings.LastIndexByte(name, '/')
	return name[:i+1] + hashHex + "." + name[i+1:]
}

// Publish bumps and signs targets, snapshot and timestamp and serves them.
func (r *Repo) Publish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.published {
		r.Targets.Signed.Version++
		r.Snap.Signed.Version++
	}
	r.published = true
	r.Targets.ClearSignatures()
	sign(r.t, r.Targets, r.Keys["targets"])
	r.Files[fmt.Sprintf("%d.targets.json", r.Targets.Signed.Version)] = bytesOf(r.t, r.Targets)

	r.Snap.Signed.Meta["targets.json"] = metadata.MetaFile(r.Targets.Signed.Version)
	r.Snap.ClearSignatures()
	sign(r.t, r.Snap, r.Keys["snapshot"])
	r.Files[fmt.Sprintf("%d.snapshot.json", r.Snap.Signed.Version)] = bytesOf(r.t, r.Snap)

	r.signTimestampLocked()
}

// SignTimestamp bumps, signs and serves only the timestamp.
func (r *Repo) SignTimestamp() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.signTimestampLocked()
}

func (r *Repo) signTimestampLocked() {
	if r.Files["timestamp.json"] != nil {
		r.Time.Signed.Version++
	}
	r.Time.Signed.Meta["snapshot.json"] = metadata.MetaFile(r.Snap.Signed.Version)
	r.Time.ClearSignatures()
	sign(r.t, r.Time, r.Keys["timestamp"])
	r.Files["timestamp.json"] = bytesOf(r.t, r.Time)
}

// Fetcher serves the repository's metadata; notFound is wrapped for
// missing files, tooLong when a file exceeds max.
func (r *Repo) Fetcher(notFound, tooLong error) FetchFunc {
	return func(ctx context.Context, name string, max int64) ([]byte, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		b, ok := r.Files[name]
		if !ok {
			return nil, fmt.Errorf("%w: %s", notFound, name)
		}
		if int64(len(b)) > max {
			return nil, fmt.Errorf("%w: %s", tooLong, name)
		}
		return append([]byte(nil), b...), nil
	}
}

// FetchFunc is a metadata fetcher as a function.
type FetchFunc func(ctx context.Context, name string, max int64) ([]byte, error)

// Fetch calls f.
func (f FetchFunc) Fetch(ctx context.Context, name string, max int64) ([]byte, error) {
	return f(ctx, name, max)
}

// Handler serves the repository over HTTP: /metadata/NAME and
// /targets/PATH, with Range support for targets.
func (r *Repo) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/metadata/", func(w http.ResponseWriter, q *http.Request) {
		r.mu.Lock()
		b, ok := r.Files[strings.TrimPrefix(q.URL.Path, "/metadata/")]
		r.mu.Unlock()
		if !ok {
			http.NotFound(w, q)
			return
		}
		w.Write(b)
	})
	mux.HandleFunc("/targets/", func(w http.ResponseWriter, q *http.Request) {
		r.mu.Lock()
		b, ok := r.TargetFiles[strings.TrimPrefix(q.URL.Path, "/targets/")]
		r.mu.Unlock()
		if !ok {
			http.NotFound(w, q)
			return
		}
		http.ServeContent(w, q, "", time.Time{}, strings.NewReader(string(b)))
	})
	return mux
}

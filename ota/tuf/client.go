package tuf

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"time"

	"github.com/einwurf/einwurf/ota/durable"
)

// Limits on what the repository may send (endless data).
const (
	MaxRootLength      = 512 << 10
	MaxTimestampLength = 16 << 10
	MaxSnapshotLength  = 2 << 20
	MaxTargetsLength   = 4 << 20
	// MaxRootRotations bounds how many new roots one refresh follows.
	MaxRootRotations = 32
)

// Fetcher gets a file of the repository's metadata, at most max bytes. It
// returns an error wrapping ErrNotFound for a missing file and ErrTooLong
// when the file is longer than max.
type Fetcher interface {
	Fetch(ctx context.Context, name string, max int64) ([]byte, error)
}

// Client keeps the trusted metadata in a folder and refreshes it.
type Client struct {
	fs    durable.FS
	dir   string
	fetch Fetcher
	now   func() time.Time

	root      Root
	timestamp *Timestamp
	snapshot  *Snapshot
	targets   *Targets
}

// New opens the trusted metadata in dir. dir must hold root.json (the
// root the kiosk was built with, or a later one it verified); the other
// roles are loaded when present and still signed by the trusted root.
func New(fsys durable.FS, dir string, f Fetcher, now func() time.Time) (*Client, error) {
	c := &Client{fs: fsys, dir: dir, fetch: f, now: now}
	b, err := fsys.ReadFile(path.Join(dir, "root.json"))
	if err != nil {
		return nil, fmt.Errorf("tuf: trusted root: %w", err)
	}
	r, err := ParseRoot(b)
	if err != nil {
		return nil, err
	}
	if err := verifyRole(r, RoleRoot, b); err != nil {
		return nil, fmt.Errorf("tuf: trusted root: %w", err)
	}
	c.root = r
	if b, err := fsys.ReadFile(path.Join(dir, "timestamp.json")); err == nil {
		if t, err := ParseTimestamp(b); err == nil && verifyRole(r, RoleTimestamp, b) == nil {
			c.timestamp = &t
		}
	}
	if b, err := fsys.ReadFile(path.Join(dir, "snapshot.json")); err == nil {
		if s, err := ParseSnapshot(b); err == nil && verifyRole(r, RoleSnapshot, b) == nil {
			c.snapshot = &s
		}
	}
	if b, err := fsys.ReadFile(path.Join(dir, "targets.json")); err == nil {
		if t, err := ParseTargets(b); err == nil && verifyRole(r, RoleTargets, b) == nil {
			c.targets = &t
		}
	}
	return c, nil
}

// Root returns the trusted root.
func (c *Client) Root() Root { return c.root }

func (c *Client) persist(name string, b []byte) error {
	return durable.WriteFile(c.fs, path.Join(c.dir, name), b)
}

// Refresh updates the trusted metadata from the repository: root (following
// every rotation), timestamp, snapshot, targets. On any error the trusted
// metadata verified so far is kept and nothing from the failed step is.
func (c *Client) Refresh(ctx context.Context) error {
	if err := c.updateRoot(ctx); err != nil {
		return err
	}
	if err := c.updateTimestamp(ctx); err != nil {
		return err
	}
	if err := c.updateSnapshot(ctx); err != nil {
		return err
	}
	return c.updateTargets(ctx)
}

func (c *Client) expired(x common) bool { return !c.now().Before(x.Expires) }

func (c *Client) updateRoot(ctx context.Context) error {
	old := c.root
	for i := 0; i < MaxRootRotations; i++ {
		next := c.root.Version + 1
		b, err := c.fetch.Fetch(ctx, fmt.Sprintf("%d.root.json", next), MaxRootLength)
		if isNotFound(err) {
			break
		}
		if err != nil {
			return err
		}
		r, err := ParseRoot(b)
		if err != nil {
			return err
		}
		if err := verifyRole(c.root, RoleRoot, b); err != nil {
			return fmt.Errorf("root %d by the trusted root: %w", next, err)
		}
		if err := verifyRole(r, RoleRoot, b); err != nil {
			return fmt.Errorf("root %d by itself: %w", next, err)
		}
		if r.Version != next {
			return fmt.Errorf("%w: root file %d holds version %d", ErrRollback, next, r.Version)
		}
		if err := c.persist("root.json", b); err != nil {
			return err
		}
		c.root = r
	}
	if c.expired(c.root.common) {
		return fmt.Errorf("%w: root", ErrExpired)
	}
	// New timestamp or snapshot keys: forget what the old keys signed, so
	// a fast-forward by a compromised key can be recovered from.
	if !sameKeys(old, c.root, RoleTimestamp) || !sameKeys(old, c.root, RoleSnapshot) {
		for _, n := range []string{"timestamp.json", "snapshot.json", "targets.json"} {
			if err := c.fs.Remove(path.Join(c.dir, n)); err != nil && !durable.IsNotExist(err) {
				return err
			}
		}
		c.timestamp, c.snapshot, c.targets = nil, nil, nil
	}
	return nil
}

func (c *Client) updateTimestamp(ctx context.Context) error {
	b, err := c.fetch.Fetch(ctx, "timestamp.json", MaxTimestampLength)
	if err != nil {
		return err
	}
	t, err := ParseTimestamp(b)
	if err != nil {
		return err
	}
	if err := verifyRole(c.root, RoleTimestamp, b); err != nil {
		return err
	}
	if old := c.timestamp; old != nil {
		if t.Version < old.Version {
			return fmt.Errorf("%w: timestamp %d < %d", ErrRollback, t.Version, old.Version)
		}
		if t.Meta["snapshot.json"].Version < old.Meta["snapshot.json"].Version {
			return fmt.Errorf("%w: snapshot %d < %d", ErrRollback, t.Meta["snapshot.json"].Version, old.Meta["snapshot.json"].Version)
		}
	}
	if c.expired(t.common) {
		return fmt.Errorf("%w: timestamp", ErrExpired)
	}
	if c.timestamp != nil && t.Version == c.timestamp.Version {
		return nil
	}
	if err := c.persist("timestamp.json", b); err != nil {
		return err
	}
	c.timestamp = &t
	return nil
}

func (c *Client) metaName(role string, version int64) string {
	if c.root.ConsistentSnapshot {
		return fmt.Sprintf("%d.%s.json", version, role)
	}
	return role + ".json"
}

func (c *Client) updateSnapshot(ctx context.Context) error {
	m := c.timestamp.Meta["snapshot.json"]
	b, err := c.fetchMeta(ctx, c.metaName(RoleSnapshot, m.Version), m, MaxSnapshotLength)
	if err != nil {
		return err
	}
	s, err := ParseSnapshot(b)
	if err != nil {
		return err
	}
	if err := verifyRole(c.root, RoleSnapshot, b); err != nil {
		return err
	}
	if s.Version != m.Version {
		return fmt.Errorf("%w: snapshot version %d, timestamp says %d", ErrMismatch, s.Version, m.Version)
	}
	if old := c.snapshot; old != nil {
		for name, om := range old.Meta {
			nm, ok := s.Meta[name]
			if !ok || nm.Version < om.Version {
				return fmt.Errorf("%w: %s in snapshot", ErrRollback, name)
			}
		}
	}
	if c.expired(s.common) {
		return fmt.Errorf("%w: snapshot", ErrExpired)
	}
	if err := c.persist("snapshot.json", b); err != nil {
		return err
	}
	c.snapshot = &s
	return nil
}

func (c *Client) updateTargets(ctx context.Context) error {
	m := c.snapshot.Meta["targets.json"]
	b, err := c.fetchMeta(ctx, c.metaName(RoleTargets, m.Version), m, MaxTargetsLength)
	if err != nil {
		return err
	}
	t, err := ParseTargets(b)
	if err != nil {
		return err
	}
	if err := verifyRole(c.root, RoleTargets, b); err != nil {
		return err
	}
	if t.Version != m.Version {
		return fmt.Errorf("%w: targets version %d, snapshot says %d", ErrMismatch, t.Version, m.Version)
	}
	if c.targets != nil && t.Version < c.targets.Version {
		return fmt.Errorf("%w: targets %d < %d", ErrRollback, t.Version, c.targets.Version)
	}
	if c.expired(t.common) {
		return fmt.Errorf("%w: targets", ErrExpired)
	}
	if err := c.persist("targets.json", b); err != nil {
		return err
	}
	c.targets = &t
	return nil
}

// fetchMeta fetches a metadata file and checks the length and hashes its
// parent role gives (if it gives them).
func (c *Client) fetchMeta(ctx context.Context, name string, m MetaFile, max int64) ([]byte, error) {
	if m.Length > 0 {
		max = m.Length
	}
	b, err := c.fetch.Fetch(ctx, name, max)
	if err != nil {
		return nil, err
	}
	if m.Length > 0 && int64(len(b)) != m.Length {
		return nil, fmt.Errorf("%w: %s is %d bytes, parent says %d", ErrMismatch, name, len(b), m.Length)
	}
	if want, ok := m.Hashes["sha256"]; ok {
		got := sha256.Sum256(b)
		if !hashEqual(got[:], want) {
			return nil, fmt.Errorf("%w: %s hash", ErrMismatch, name)
		}
	}
	return b, nil
}

// Target is a verified target: its name, length, SHA-256 and custom
// metadata, and its path in the repository's targets folder.
type Target struct {
	Name   string
	Length int64
	SHA256 [32]byte
	Custom json.RawMessage
	// Path is where to fetch it below the targets URL.
	Path string
}

// Target returns a target of the trusted targets metadata. Call Refresh
// first.
func (c *Client) Target(name string) (Target, error) {
	if c.targets == nil {
		return Target{}, fmt.Errorf("%w: no trusted targets", ErrNotFound)
	}
	if c.expired(c.targets.common) || c.timestamp == nil || c.expired(c.timestamp.common) {
		return Target{}, fmt.Errorf("%w: trusted metadata", ErrExpired)
	}
	f, ok := c.targets.Targets[name]
	if !ok {
		return Target{}, fmt.Errorf("%w: target %q", ErrNotFound, name)
	}
	h, err := hex.DecodeString(f.Hashes["sha256"])
	if err != nil || len(h) != 32 {
		return Target{}, fmt.Errorf("%w: target %q has no SHA-256", ErrMalformed, name)
	}
	t := Target{Name: name, Length: f.Length, Custom: f.Custom, Path: name}
	copy(t.SHA256[:], h)
	if c.root.ConsistentSnapshot {
		dir, base := path.Split(name)
		t.Path = dir + hex.EncodeToString(h) + "." + base
	}
	return t, nil
}

// TargetNames returns the names of the trusted targets, sorted. Call
// Refresh first.
func (c *Client) TargetNames() ([]string, error) {
	if c.targets == nil {
		return nil, fmt.Errorf("%w: no trusted targets", ErrNotFound)
	}
	if c.expired(c.targets.common) || c.timestamp == nil || c.expired(c.timestamp.common) {
		return nil, fmt.Errorf("%w: trusted metadata", ErrExpired)
	}
	names := make([]string, 0, len(c.targets.Targets))
	for n := range c.targets.Targets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

func hashEqual(got []byte, wantHex string) bool {
	want, err := hex.DecodeString(wantHex)
	return err == nil && subtle.ConstantTimeCompare(got, want) == 1
}

func isNotFound(err error) bool { return err != nil && errors.Is(err, ErrNotFound) }

// HTTPFetcher fetches metadata from a base URL.
type HTTPFetcher struct {
	Client *http.Client
	Base   string // e.g. https://central:8443/tuf/metadata/
}

// Fetch implements Fetcher.
func (h HTTPFetcher) Fetch(ctx context.Context, name string, max int64) ([]byte, error) {
	u, err := url.JoinPath(h.Base, name)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	cl := h.Client
	if cl == nil {
		cl = http.DefaultClient
	}
	resp, err := cl.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("tuf: %s: HTTP %d", name, resp.StatusCode)
	}
	if resp.ContentLength > max {
		return nil, fmt.Errorf("%w: %s: %s bytes", ErrTooLong, name, strconv.FormatInt(resp.ContentLength, 10))
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: %s", ErrTooLong, name)
	}
	return b, nil
}

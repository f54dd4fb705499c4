// Package release is the central's side of over-the-air updates: it keeps
// a TUF repository (signed with go-tuf's metadata package), adds bundles
// and root file system images to it with their block indexes, serves it
// over HTTP with Range, and runs staged rollouts (canary first, a share of
// a group, halted when too many kiosks fail), each kiosk's state kept in
// the central's store.
package release

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/einwurf/einwurf/central/keys"
	"github.com/einwurf/einwurf/wire/blocks"
)

// Expiry of each role's metadata. The timestamp is short-lived: a kiosk
// that is fed stale metadata (freeze) stops trusting it within a day.
const (
	RootExpiry      = 365 * 24 * time.Hour
	TargetsExpiry   = 90 * 24 * time.Hour
	SnapshotExpiry  = 7 * 24 * time.Hour
	TimestampExpiry = 24 * time.Hour
)

// BlockSize is the block size of the payloads' indexes (the kiosk reads
// it from each index).
const BlockSize = blocks.DefaultSize

// ErrRepo is returned for a repository folder that is not in order.
var ErrRepo = errors.New("release: bad repository")

// Repo is a TUF repository on disk: Dir/metadata and Dir/targets, signed
// with the keys in Keys (root-N.key, targets.key, snapshot.key,
// timestamp.key: hex Ed25519 seeds, mode 0600). The root keys belong
// offline; Init and RotateRoot are the only operations that use them.
type Repo struct {
	Dir, Keys string
	Now       func() time.Time
}

func (r Repo) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

func (r Repo) meta(name string) string { return filepath.Join(r.Dir, "metadata", name) }

func writeKey(path string) (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(priv.Seed())+"\n"), 0o600); err != nil {
		return nil, err
	}
	return priv, nil
}

func readKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	seed, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: key %s", ErrRepo, path)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

func (r Repo) rootKeys() ([]ed25519.PrivateKey, error) {
	names, _ := filepath.Glob(filepath.Join(r.Keys, "root-*.key"))
	var out []ed25519.PrivateKey
	for _, n := range names {
		k, err := readKey(n)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

func sign[T metadata.Roles](m *metadata.Metadata[T], keys ...ed25519.PrivateKey) error {
	m.ClearSignatures()
	for _, k := range keys {
		s, err := signature.LoadSigner(k, crypto.Hash(0))
		if err != nil {
			return err
		}
		if _, err := m.Sign(s); err != nil {
			return err
		}
	}
	return nil
}

func write[T metadata.Roles](path string, m *metadata.Metadata[T]) error {
	b, err := m.ToBytes(true)
	if err != nil {
		return err
	}
	return writeAtomic(path, b)
}

func writeAtomic(path string, b []byte) error { return keys.WriteFileAtomic(path, b, 0o644) }

// Init creates an empty repository: rootKeys root keys of which threshold
// must sign, one key for each other role, and version 1 of every role.
func (r Repo) Init(rootKeys, threshold int) error {
	if rootKeys < 1 || threshold < 1 || threshold > rootKeys {
		return fmt.Errorf("%w: %d root keys, threshold %d", ErrRepo, rootKeys, threshold)
	}
	for _, d := range []string{r.Keys, filepath.Join(r.Dir, "metadata"), filepath.Join(r.Dir, "targets")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	if _, err := os.Stat(r.meta("1.root.json")); err == nil {
		return fmt.Errorf("%w: %s is initialised already", ErrRepo, r.Dir)
	}
	now := r.now()
	root := metadata.Root(now.Add(RootExpiry))
	var roots []ed25519.PrivateKey
	for i := 1; i <= rootKeys; i++ {
		k, err := writeKey(filepath.Join(r.Keys, fmt.Sprintf("root-%d.key", i)))
		if err != nil {
			return err
		}
		roots = append(roots, k)
		if err := addKey(root, k, metadata.ROOT); err != nil {
			return err
		}
	}
	root.Signed.Roles[metadata.ROOT].Threshold = threshold
	for _, role := range []string{metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP} {
		k, err := writeKey(filepath.Join(r.Keys, role+".key"))
		if err != nil {
			return err
		}
		if err := addKey(root, k, role); err != nil {
			return err
		}
	}
	if err := sign(root, roots...); err != nil {
		return err
	}
	if err := write(r.meta("1.root.json"), root); err != nil {
		return err
	}
	if err := write(r.meta("root.json"), root); err != nil {
		return err
	}
	return r.publish(metadata.Targets(now.Add(TargetsExpiry)))
}

func addKey(root *metadata.Metadata[metadata.RootType], k ed25519.PrivateKey, role string) error {
	key, err := metadata.KeyFromPublicKey(k.Public())
	if err != nil {
		return err
	}
	return root.Signed.AddKey(key, role)
}

// RotateRoot replaces every root key by newKeys fresh ones (threshold
// of them must sign later roots): the new root is signed by the old keys
// and the new ones, so kiosks that trust the old root follow it.
func (r Repo) RotateRoot(newKeys, threshold int) error {
	root, err := r.root()
	if err != nil {
		return err
	}
	old, err := r.rootKeys()
	if err != nil {
		return err
	}
	for _, id := range append([]string(nil), root.Signed.Roles[metadata.ROOT].KeyIDs...) {
		if err := root.Signed.RevokeKey(id, metadata.ROOT); err != nil {
			return err
		}
	}
	var fresh []ed25519.PrivateKey
	stamp := r.now().Format("20060102T150405")
	for i := 1; i <= newKeys; i++ {
		k, err := writeKey(filepath.Join(r.Keys, fmt.Sprintf("root-%s-%d.key.new", stamp, i)))
		if err != nil {
			return err
		}
		fresh = append(fresh, k)
		if err := addKey(root, k, metadata.ROOT); err != nil {
			return err
		}
	}
	root.Signed.Roles[metadata.ROOT].Threshold = threshold
	root.Signed.Version++
	root.Signed.Expires = r.now().Add(RootExpiry)
	if err := sign(root, append(old, fresh...)...); err != nil {
		return err
	}
	if err := write(r.meta(fmt.Sprintf("%d.root.json", root.Signed.Version)), root); err != nil {
		return err
	}
	if err := write(r.meta("root.json"), root); err != nil {
		return err
	}
	// The old keys are retired; the new ones become the root keys.
	for _, n := range mustGlob(filepath.Join(r.Keys, "root-*.key")) {
		if err := os.Rename(n, n+".retired"); err != nil {
			return err
		}
	}
	for _, n := range mustGlob(filepath.Join(r.Keys, "root-*.key.new")) {
		if err := os.Rename(n, strings.TrimSuffix(n, ".new")); err != nil {
			return err
		}
	}
	return nil
}

func mustGlob(p string) []string {
	m, _ := filepath.Glob(p)
	return m
}

func (r Repo) root() (*metadata.Metadata[metadata.RootType], error) {
	return metadata.Root().FromFile(r.meta("root.json"))
}

// RootJSON returns the current root metadata, which kiosks are built with.
func (r Repo) RootJSON() ([]byte, error) { return os.ReadFile(r.meta("root.json")) }

func (r Repo) current() (*metadata.Metadata[metadata.TargetsType], *metadata.Metadata[metadata.SnapshotType], *metadata.Metadata[metadata.TimestampType], error) {
	ts, err := metadata.Timestamp().FromFile(r.meta("timestamp.json"))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %v", ErrRepo, err)
	}
	sv := ts.Signed.Meta["snapshot.json"].Version
	snap, err := metadata.Snapshot().FromFile(r.meta(fmt.Sprintf("%d.snapshot.json", sv)))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %v", ErrRepo, err)
	}
	tv := snap.Signed.Meta["targets.json"].Version
	tg, err := metadata.Targets().FromFile(r.meta(fmt.Sprintf("%d.targets.json", tv)))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %v", ErrRepo, err)
	}
	return tg, snap, ts, nil
}

// publish signs targets (at its version) and a new snapshot and timestamp.
func (r Repo) publish(tg *metadata.Metadata[metadata.TargetsType]) error {
	now := r.now()
	tk, err := readKey(filepath.Join(r.Keys, "targets.key"))
	if err != nil {
		return err
	}
	if err := sign(tg, tk); err != nil {
		return err
	}
	if err := write(r.meta(fmt.Sprintf("%d.targets.json", tg.Signed.Version)), tg); err != nil {
		return err
	}
	snap := metadata.Snapshot(now.Add(SnapshotExpiry))
	if _, old, _, err := r.current(); err == nil {
		snap.Signed.Version = old.Signed.Version + 1
	}
	snap.Signed.Meta["targets.json"] = metadata.MetaFile(tg.Signed.Version)
	sk, err := readKey(filepath.Join(r.Keys, "snapshot.key"))
	if err != nil {
		return err
	}
	if err := sign(snap, sk); err != nil {
		return err
	}
	sb, err := snap.ToBytes(true)
	if err != nil {
		return err
	}
	if err := writeAtomic(r.meta(fmt.Sprintf("%d.snapshot.json", snap.Signed.Version)), sb); err != nil {
		return err
	}
	return r.stamp(snap.Signed.Version, sb)
}

// stamp signs a new timestamp naming snapshot version sv (with the
// snapshot's length and hash).
func (r Repo) stamp(sv int64, snapBytes []byte) error {
	ts := metadata.Timestamp(r.now().Add(TimestampExpiry))
	if old, err := metadata.Timestamp().FromFile(r.meta("timestamp.json")); err == nil {
		ts.Signed.Version = old.Signed.Version + 1
	}
	mf := metadata.MetaFile(sv)
	h := sha256.Sum256(snapBytes)
	mf.Length = int64(len(snapBytes))
	mf.Hashes = metadata.Hashes{"sha256": h[:]}
	ts.Signed.Meta["snapshot.json"] = mf
	k, err := readKey(filepath.Join(r.Keys, "timestamp.key"))
	if err != nil {
		return err
	}
	if err := sign(ts, k); err != nil {
		return err
	}
	return write(r.meta("timestamp.json"), ts)
}

// Refresh re-signs the timestamp (and the snapshot when it expires within
// two days), so kiosks keep trusting an unchanged repository. The update
// server calls it hourly.
func (r Repo) Refresh() error {
	tg, snap, _, err := r.current()
	if err != nil {
		return err
	}
	if snap.Signed.Expires.Sub(r.now()) < 2*24*time.Hour {
		tg.Signed.Version++
		tg.Signed.Expires = r.now().Add(TargetsExpiry)
		return r.publish(tg)
	}
	sb, err := os.ReadFile(r.meta(fmt.Sprintf("%d.snapshot.json", snap.Signed.Version)))
	if err != nil {
		return err
	}
	return r.stamp(snap.Signed.Version, sb)
}

// Custom is a target's custom metadata (as ota.Custom reads it).
type Custom struct {
	Version string `json:"version"`
	Kind    string `json:"kind"`
	Blocks  string `json:"blocks"`
}

// Add puts a payload (a bundle or root file system image) into the
// repository as target name, with its block index as target
// name+".blocks", and publishes new metadata.
func (r Repo) Add(name, payloadPath, version, kind string) error {
	if kind != "bundle" && kind != "rootfs" {
		return fmt.Errorf("%w: kind %q", ErrRepo, kind)
	}
	if name == "" || strings.Contains(name, "..") || strings.HasPrefix(name, "/") {
		return fmt.Errorf("%w: target name %q", ErrRepo, name)
	}
	f, err := os.Open(payloadPath)
	if err != nil {
		return err
	}
	defer f.Close()
	idx, err := blocks.Build(f, BlockSize)
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	tg, _, _, err := r.current()
	if err != nil {
		return err
	}
	ib := idx.Marshal()
	itf, err := r.storeTarget(name+".blocks", bytes.NewReader(ib))
	if err != nil {
		return err
	}
	ptf, err := r.storeTarget(name, f)
	if err != nil {
		return err
	}
	cb, _ := json.Marshal(Custom{Version: version, Kind: kind, Blocks: name + ".blocks"})
	raw := json.RawMessage(cb)
	ptf.Custom = &raw
	tg.Signed.Targets[name+".blocks"] = itf
	tg.Signed.Targets[name] = ptf
	tg.Signed.Version++
	tg.Signed.Expires = r.now().Add(TargetsExpiry)
	return r.publish(tg)
}

// storeTarget copies a target into Dir/targets under its consistent
// snapshot name (HASH.NAME) and returns its target file entry.
func (r Repo) storeTarget(name string, src io.Reader) (*metadata.TargetFiles, error) {
	dir := filepath.Join(r.Dir, "targets", filepath.Dir(name))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(dir, ".upload-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), src)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	sum := h.Sum(nil)
	if err := os.Rename(tmp.Name(), filepath.Join(dir, hex.EncodeToString(sum)+"."+filepath.Base(name))); err != nil {
		return nil, err
	}
	tf := metadata.TargetFile()
	tf.Length = n
	tf.Hashes = metadata.Hashes{"sha256": sum}
	return tf, nil
}

// Target returns a target's length and custom metadata from the current
// targets role.
func (r Repo) Target(name string) (int64, Custom, error) {
	tg, _, _, err := r.current()
	if err != nil {
		return 0, Custom{}, err
	}
	tf, ok := tg.Signed.Targets[name]
	if !ok {
		return 0, Custom{}, fmt.Errorf("%w: no target %q", ErrRepo, name)
	}
	var c Custom
	if tf.Custom != nil {
		json.Unmarshal(*tf.Custom, &c)
	}
	return tf.Length, c, nil
}

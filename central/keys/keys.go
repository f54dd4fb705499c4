// Package keys holds the central's key material and the register of
// enrolled kiosks: the age hybrid post-quantum identity packets are
// encrypted to, the Ed25519 key receipts and commands are signed with, and
// each enrolled kiosk's Ed25519 public key.
//
// Files in the key folder:
//
//	age-identity.txt   secret, 0600: the age hybrid identity
//	sign.key           secret, 0600: the Ed25519 seed, base64
//	central.pub.json   public: recipient and signing key for kiosks
//	kiosks.json        public: kiosk id → Ed25519 public key, base64
package keys

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/einwurf/einwurf/internal/atomicfile"

	"filippo.io/age"

	"github.com/einwurf/einwurf/wire"
)

// Errors of key handling.
var (
	ErrExists       = errors.New("keys: key material exists already")
	ErrUnknownKiosk = errors.New("keys: kiosk not enrolled")
	ErrBadKey       = errors.New("keys: malformed key")
)

// Public is what a kiosk needs to know of the central; the wire contract
// defines it.
type Public = wire.CentralKeys

// Central is the central's secret key material.
type Central struct {
	Identity *age.HybridIdentity
	SignKey  ed25519.PrivateKey
}

// Public returns the public half.
func (c *Central) Public() Public {
	return Public{AgeRecipient: c.Identity.Recipient().String(), SignPub: c.SignKey.Public().(ed25519.PublicKey)}
}

// Generate creates the central's keys in dir; it refuses to overwrite.
func Generate(dir string) (*Central, error) {
	if _, err := os.Stat(filepath.Join(dir, "sign.key")); err == nil {
		return nil, ErrExists
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	_, sk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	c := &Central{Identity: id, SignKey: sk}
	pub, _ := json.MarshalIndent(c.Public(), "", "  ")
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{"age-identity.txt", []byte(id.String() + "\n"), 0o600},
		{"sign.key", []byte(base64.StdEncoding.EncodeToString(sk.Seed()) + "\n"), 0o600},
		{"central.pub.json", append(pub, '\n'), 0o644},
	} {
		if err := WriteFileAtomic(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Load reads the central's keys from dir.
func Load(dir string) (*Central, error) {
	idText, err := os.ReadFile(filepath.Join(dir, "age-identity.txt"))
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	id, err := age.ParseHybridIdentity(strings.TrimSpace(string(idText)))
	if err != nil {
		return nil, fmt.Errorf("%w: age identity: %v", ErrBadKey, err)
	}
	seedText, err := os.ReadFile(filepath.Join(dir, "sign.key"))
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(seedText)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: signing key", ErrBadKey)
	}
	return &Central{Identity: id, SignKey: ed25519.NewKeyFromSeed(seed)}, nil
}

// LoadPublic reads a central.pub.json.
func LoadPublic(path string) (Public, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Public{}, fmt.Errorf("keys: %w", err)
	}
	p, err := wire.ParseCentralKeys(b)
	if err != nil {
		return Public{}, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	return p, nil
}

// Register is the list of enrolled kiosks, kept in a JSON file. Lookups
// re-read the file when it changed, so enrolment needs no restart.
type Register struct {
	path  string
	mu    sync.Mutex
	mtime int64
	keys  map[string]ed25519.PublicKey
}

// OpenRegister opens the register at path (it may not exist yet).
func OpenRegister(path string) *Register { return &Register{path: path} }

func (r *Register) load() error {
	fi, err := os.Stat(r.path)
	if errors.Is(err, os.ErrNotExist) {
		r.keys = nil
		return nil
	}
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	if r.keys != nil && fi.ModTime().UnixNano() == r.mtime {
		return nil
	}
	b, err := os.ReadFile(r.path)
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	var m map[string][]byte
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("%w: register: %v", ErrBadKey, err)
	}
	keys := make(map[string]ed25519.PublicKey, len(m))
	for id, k := range m {
		if !wire.ValidID(id) || len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("%w: register entry", ErrBadKey)
		}
		keys[id] = k
	}
	r.keys, r.mtime = keys, fi.ModTime().UnixNano()
	return nil
}

// Lookup returns an enrolled kiosk's public key.
func (r *Register) Lookup(kioskID string) (ed25519.PublicKey, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.load(); err != nil {
		return nil, err
	}
	k, ok := r.keys[kioskID]
	if !ok {
		return nil, ErrUnknownKiosk
	}
	return k, nil
}

// Kiosks lists the enrolled kiosk ids.
func (r *Register) Kiosks() ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.load(); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(r.keys))
	for id := range r.keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, nil
}

// Enrol adds or replaces a kiosk's public key.
func (r *Register) Enrol(kioskID string, pub ed25519.PublicKey) error {
	if !wire.ValidID(kioskID) || len(pub) != ed25519.PublicKeySize {
		return ErrBadKey
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.load(); err != nil {
		return err
	}
	if old, ok := r.keys[kioskID]; ok && !old.Equal(pub) {
		// A rotation: the old key stays known for what it signed.
		if err := r.retire(kioskID, old); err != nil {
			return err
		}
	}
	m := map[string][]byte{}
	for id, k := range r.keys {
		m[id] = k
	}
	m[kioskID] = pub
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := os.MkdirAll(filepath.Dir(r.path), 0o700); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	if err := WriteFileAtomic(r.path, append(b, '\n'), 0o644); err != nil {
		return err
	}
	r.keys = nil // re-read
	return nil
}

// ParsePublicKey parses a kiosk public key in base64.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, ErrBadKey
	}
	return b, nil
}

// WriteFileAtomic writes path so that a crash leaves the old content or the
// new (internal/atomicfile).
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	if err := atomicfile.Write(path, data, mode); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	return nil
}

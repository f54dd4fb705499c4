// Package tuf is the kiosk's client of The Update Framework: it keeps the
// trusted root, timestamp, snapshot and targets metadata and refreshes them
// in the order and with the checks of the TUF specification (root rotation
// with thresholds of the old and the new root, rollback, freeze,
// mix-and-match, endless data), for Ed25519 keys and the top-level targets
// role (no delegations).
//
// It is its own implementation rather than go-tuf's client: go-tuf v2.4.2
// adds 3.7 MB (stripped) to an arm64 binary, because it links sigstore,
// protobuf and go-containerregistry (see docs/update.md). The tests check it
// against repositories that go-tuf's metadata package writes.
package tuf

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors of verification. Each names the attack it stops.
var (
	// ErrMalformed is returned for metadata that does not parse.
	ErrMalformed = errors.New("tuf: malformed metadata")
	// ErrSignature is returned when fewer than a role's threshold of its
	// keys signed (bad signatures, unknown keys, too few keys).
	ErrSignature = errors.New("tuf: not signed by a threshold of keys")
	// ErrExpired is returned for metadata past its expiry (freeze).
	ErrExpired = errors.New("tuf: metadata expired")
	// ErrRollback is returned for metadata older than what is trusted.
	ErrRollback = errors.New("tuf: metadata older than trusted (rollback)")
	// ErrMismatch is returned when a role's version, length or hash differs
	// from what the role above it says (mix-and-match).
	ErrMismatch = errors.New("tuf: metadata does not match its parent (mix-and-match)")
	// ErrTooLong is returned when the repository sends more than allowed
	// (endless data).
	ErrTooLong = errors.New("tuf: data longer than allowed")
	// ErrNotFound is returned by a Fetcher for a missing file, and for an
	// unknown target.
	ErrNotFound = errors.New("tuf: not found")
)

// Role names.
const (
	RoleRoot      = "root"
	RoleTimestamp = "timestamp"
	RoleSnapshot  = "snapshot"
	RoleTargets   = "targets"
)

type signature struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"`
}

type envelope struct {
	Signatures []signature     `json:"signatures"`
	Signed     json.RawMessage `json:"signed"`
}

type common struct {
	Type        string    `json:"_type"`
	SpecVersion string    `json:"spec_version"`
	Version     int64     `json:"version"`
	Expires     time.Time `json:"expires"`
}

// Key is a public key of the root metadata.
type Key struct {
	KeyType string `json:"keytype"`
	Scheme  string `json:"scheme"`
	KeyVal  struct {
		Public string `json:"public"`
	} `json:"keyval"`
}

// Role is a role's keys and threshold.
type Role struct {
	KeyIDs    []string `json:"keyids"`
	Threshold int      `json:"threshold"`
}

// Root is the root role's signed part.
type Root struct {
	common
	ConsistentSnapshot bool            `json:"consistent_snapshot"`
	Keys               map[string]Key  `json:"keys"`
	Roles              map[string]Role `json:"roles"`
}

// MetaFile is a timestamp's or snapshot's entry for a metadata file.
type MetaFile struct {
	Version int64             `json:"version"`
	Length  int64             `json:"length,omitempty"`
	Hashes  map[string]string `json:"hashes,omitempty"`
}

// Timestamp is the timestamp role's signed part.
type Timestamp struct {
	common
	Meta map[string]MetaFile `json:"meta"`
}

// Snapshot is the snapshot role's signed part.
type Snapshot struct {
	common
	Meta map[string]MetaFile `json:"meta"`
}

// TargetFile is a target's length, hashes and custom metadata.
type TargetFile struct {
	Length int64             `json:"length"`
	Hashes map[string]string `json:"hashes"`
	Custom json.RawMessage   `json:"custom,omitempty"`
}

// Targets is the targets role's signed part.
type Targets struct {
	common
	Targets map[string]TargetFile `json:"targets"`
}

// parse splits metadata into its signatures and signed part, checks the
// type and decodes the signed part into v (which embeds common).
func parse(b []byte, typ string, v any) (envelope, error) {
	var e envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(e.Signed) == 0 {
		return e, fmt.Errorf("%w: no signed part", ErrMalformed)
	}
	if err := json.Unmarshal(e.Signed, v); err != nil {
		return e, fmt.Errorf("%w: %s: %v", ErrMalformed, typ, err)
	}
	var c common
	if err := json.Unmarshal(e.Signed, &c); err != nil {
		return e, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if c.Type != typ {
		return e, fmt.Errorf("%w: type %q, want %q", ErrMalformed, c.Type, typ)
	}
	if c.Version < 1 {
		return e, fmt.Errorf("%w: version %d", ErrMalformed, c.Version)
	}
	if !strings.HasPrefix(c.SpecVersion, "1.") {
		return e, fmt.Errorf("%w: spec version %q", ErrMalformed, c.SpecVersion)
	}
	return e, nil
}

// ParseRoot parses root metadata (without checking its signatures).
func ParseRoot(b []byte) (Root, error) {
	var r Root
	_, err := parse(b, RoleRoot, &r)
	if err == nil {
		err = r.check()
	}
	return r, err
}

func (r Root) check() error {
	for _, name := range []string{RoleRoot, RoleTimestamp, RoleSnapshot, RoleTargets} {
		role, ok := r.Roles[name]
		if !ok {
			return fmt.Errorf("%w: root names no %s role", ErrMalformed, name)
		}
		if role.Threshold < 1 {
			return fmt.Errorf("%w: %s threshold %d", ErrMalformed, name, role.Threshold)
		}
	}
	return nil
}

// ParseTimestamp parses timestamp metadata (without checking signatures).
func ParseTimestamp(b []byte) (Timestamp, error) {
	var t Timestamp
	_, err := parse(b, RoleTimestamp, &t)
	if err == nil {
		if _, ok := t.Meta["snapshot.json"]; !ok {
			err = fmt.Errorf("%w: timestamp names no snapshot", ErrMalformed)
		}
	}
	return t, err
}

// ParseSnapshot parses snapshot metadata (without checking signatures).
func ParseSnapshot(b []byte) (Snapshot, error) {
	var s Snapshot
	_, err := parse(b, RoleSnapshot, &s)
	if err == nil {
		if _, ok := s.Meta["targets.json"]; !ok {
			err = fmt.Errorf("%w: snapshot names no targets", ErrMalformed)
		}
	}
	return s, err
}

// ParseTargets parses targets metadata (without checking signatures).
func ParseTargets(b []byte) (Targets, error) {
	var t Targets
	_, err := parse(b, RoleTargets, &t)
	if err == nil {
		for name, f := range t.Targets {
			if f.Length < 0 {
				return t, fmt.Errorf("%w: target %q length %d", ErrMalformed, name, f.Length)
			}
		}
	}
	return t, err
}

// verifyRole checks that the metadata b is signed by at least the
// threshold of role's keys in root. Each key counts once, however many key
// ids name it.
func verifyRole(root Root, role string, b []byte) error {
	var e envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	r, ok := root.Roles[role]
	if !ok || r.Threshold < 1 {
		return fmt.Errorf("%w: no %s role", ErrMalformed, role)
	}
	msg, err := canonical(e.Signed)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	allowed := map[string]bool{}
	for _, id := range r.KeyIDs {
		allowed[id] = true
	}
	used := map[string]bool{} // public keys already counted
	n := 0
	for _, s := range e.Signatures {
		if !allowed[s.KeyID] {
			continue
		}
		k, ok := root.Keys[s.KeyID]
		if !ok || k.KeyType != "ed25519" || k.Scheme != "ed25519" {
			continue
		}
		pub, err := hex.DecodeString(k.KeyVal.Public)
		if err != nil || len(pub) != ed25519.PublicKeySize || used[string(pub)] {
			continue
		}
		sig, err := hex.DecodeString(s.Sig)
		if err != nil || !ed25519.Verify(ed25519.PublicKey(pub), msg, sig) {
			continue
		}
		used[string(pub)] = true
		n++
	}
	if n < r.Threshold {
		return fmt.Errorf("%w: %s: %d of %d", ErrSignature, role, n, r.Threshold)
	}
	return nil
}

// sameKeys reports whether a role has the same keys and threshold in two
// roots.
func sameKeys(a, b Root, role string) bool {
	ra, rb := a.Roles[role], b.Roles[role]
	if ra.Threshold != rb.Threshold || len(ra.KeyIDs) != len(rb.KeyIDs) {
		return false
	}
	for i := range ra.KeyIDs {
		if ra.KeyIDs[i] != rb.KeyIDs[i] || !bytes.Equal([]byte(a.Keys[ra.KeyIDs[i]].KeyVal.Public), []byte(b.Keys[rb.KeyIDs[i]].KeyVal.Public)) {
			return false
		}
	}
	return true
}

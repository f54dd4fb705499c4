package keys

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
)

// Keys a kiosk had before a rotation stay known, so that what it signed
// with them (the receipt statements customers keep for years) still
// verifies. They live next to the register in <register>.retired.json:
// kiosk id → earlier public keys, oldest first.

func (r *Register) retiredPath() string { return r.path + ".retired.json" }

func (r *Register) loadRetired() (map[string][][]byte, error) {
	b, err := os.ReadFile(r.retiredPath())
	if errors.Is(err, os.ErrNotExist) {
		return map[string][][]byte{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	var m map[string][][]byte
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: retired keys: %v", ErrBadKey, err)
	}
	if m == nil {
		m = map[string][][]byte{}
	}
	return m, nil
}

// retire records old as an earlier key of kioskID; r.mu is held.
func (r *Register) retire(kioskID string, old ed25519.PublicKey) error {
	m, err := r.loadRetired()
	if err != nil {
		return err
	}
	if slices.ContainsFunc(m[kioskID], func(k []byte) bool { return ed25519.PublicKey(k).Equal(old) }) {
		return nil
	}
	m[kioskID] = append(m[kioskID], old)
	b, _ := json.MarshalIndent(m, "", "  ")
	return WriteFileAtomic(r.retiredPath(), append(b, '\n'), 0o644)
}

// Keys returns every key kioskID has had: the current one first, then the
// retired ones, newest first.
func (r *Register) Keys(kioskID string) ([]ed25519.PublicKey, error) {
	cur, err := r.Lookup(kioskID)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	m, err := r.loadRetired()
	if err != nil {
		return nil, err
	}
	out := []ed25519.PublicKey{cur}
	old := m[kioskID]
	for i := len(old) - 1; i >= 0; i-- {
		if len(old[i]) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: retired key of %s", ErrBadKey, kioskID)
		}
		out = append(out, old[i])
	}
	return out, nil
}

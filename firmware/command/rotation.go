package command

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	"github.com/einwurf/einwurf/internal/atomicfile"
	"github.com/einwurf/einwurf/wire"
)

// Pending is a key rotation the central has not confirmed yet: the signed
// answer to "rotate the device key" (a CommandResult signed with the old
// key, carrying the new public key), kept in a file until the central's
// signed CmdKeyEnrolled names the new key. While it is pending the Handler
// publishes it again (at every connect and with back-off), so a lost answer
// costs a delay, not the kiosk's connection to the central: the central
// enrols the new key from the first copy that reaches it.
type Pending struct {
	path string
	mu   sync.Mutex
	msg  []byte
	pub  ed25519.PublicKey
}

// OpenPending reads the pending rotation at path (none when the file does
// not exist; a file that is not a rotation answer is an error).
func OpenPending(path string) (*Pending, error) {
	p := &Pending{path: path}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return p, nil
	case err != nil:
		return nil, fmt.Errorf("command: read pending rotation: %w", err)
	}
	pub, err := rotationPub(b)
	if err != nil {
		return nil, err
	}
	p.msg, p.pub = b, pub
	return p, nil
}

// rotationPub returns the new key a signed rotation answer carries (the
// signature is the central's to check, not ours).
func rotationPub(msg []byte) (ed25519.PublicKey, error) {
	s, err := wire.OpenSigned(msg, wire.TypeCommandResult)
	if err != nil {
		return nil, fmt.Errorf("command: pending rotation: %w", err)
	}
	var r wire.CommandResult
	var kr wire.KeyRotation
	if err := json.Unmarshal(s.Body, &r); err != nil || r.Kind != wire.CmdRotateKey || r.Status != wire.ResultDone {
		return nil, fmt.Errorf("command: pending rotation: not a rotation answer")
	}
	if err := json.Unmarshal(r.Data, &kr); err != nil || len(kr.NewPub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("command: pending rotation: no new key")
	}
	return kr.NewPub, nil
}

// Set persists msg, a signed rotation answer, as the pending rotation
// (replacing an earlier one).
func (p *Pending) Set(msg []byte) error {
	pub, err := rotationPub(msg)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := atomicfile.Write(p.path, msg, 0o600); err != nil {
		return fmt.Errorf("command: store pending rotation: %w", err)
	}
	p.msg, p.pub = msg, pub
	return nil
}

// Get returns the pending rotation's message and new key (nil, nil when
// none is pending).
func (p *Pending) Get() ([]byte, ed25519.PublicKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.msg, p.pub
}

// Confirm ends the pending rotation when pub is its new key; it reports
// whether it did.
func (p *Pending) Confirm(pub ed25519.PublicKey) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.msg == nil || !p.pub.Equal(pub) {
		return false, nil
	}
	if err := os.Remove(p.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("command: end pending rotation: %w", err)
	}
	p.msg, p.pub = nil, nil
	return true, nil
}

// ParseKeyArg decodes the "pub" argument of CmdKeyEnrolled.
func ParseKeyArg(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: pub", ErrArgs)
	}
	return b, nil
}

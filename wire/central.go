package wire

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"

	"filippo.io/age"
)

// CentralKeys is what a kiosk knows of the central: the age recipient that
// packets are encrypted to (a hybrid post-quantum recipient) and the Ed25519
// key that signs receipts, progress reports and commands. The central
// publishes it as central.pub.json.
type CentralKeys struct {
	AgeRecipient string `json:"age_recipient"`
	SignPub      []byte `json:"sign_pub"`
}

// ParseCentralKeys parses and checks a central.pub.json.
func ParseCentralKeys(b []byte) (CentralKeys, error) {
	var k CentralKeys
	if len(b) > MaxMessage {
		return k, fmt.Errorf("%w: central keys too large", ErrMalformed)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&k); err != nil {
		return CentralKeys{}, fmt.Errorf("%w: central keys: %v", ErrMalformed, err)
	}
	if _, err := k.Recipient(); err != nil {
		return CentralKeys{}, err
	}
	if len(k.SignPub) != ed25519.PublicKeySize {
		return CentralKeys{}, fmt.Errorf("%w: central signing key", ErrMalformed)
	}
	return k, nil
}

// Recipient returns the age recipient. Only hybrid post-quantum recipients
// are accepted: packets rest for years, so they must withstand a future
// quantum computer.
func (k CentralKeys) Recipient() (*age.HybridRecipient, error) {
	r, err := age.ParseHybridRecipient(k.AgeRecipient)
	if err != nil {
		return nil, fmt.Errorf("%w: central recipient: %v", ErrMalformed, err)
	}
	return r, nil
}

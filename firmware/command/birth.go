package command

import (
	"crypto/ed25519"
	"time"

	"github.com/einwurf/einwurf/wire"
)

// Births makes the kiosk's signed birth messages: one per connect, each
// with a sequence number one higher than the last (persisted), so the
// central can tell a newer connection from an older one and rebuild which
// kiosks are online after its own restart.
type Births struct {
	// KioskID, Version, Slot and Site are what the birth says.
	KioskID, Version, Slot, Site string
	// Key returns the current device key.
	Key func() ed25519.PrivateKey
	// Seq is the persisted birth sequence (a file of its own, not the
	// command sequence).
	Seq *Seq
	// Now is the clock (time.Now if nil).
	Now func() time.Time
}

// Next persists the next sequence number and returns the signed birth.
func (b *Births) Next() ([]byte, error) {
	n, err := b.Seq.Next()
	if err != nil {
		return nil, err
	}
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	return wire.Sign(b.Key(), wire.TypeBirth, wire.Birth{KioskID: b.KioskID, Seq: n, Version: b.Version,
		Slot: b.Slot, Site: b.Site, Time: now().UTC()})
}

package monitor

import (
	"crypto/ed25519"
	"strings"
	"time"

	"github.com/einwurf/einwurf/wire"
)

// stmt is what the look-up needs of a verified receipt statement.
type stmt struct {
	kioskID, packetID, code string
	accepted                time.Time
}

// statement recognises the text of a receipt's QR code (it starts with
// wire.StatementPrefix) and verifies its signature with the issuing
// kiosk's enrolled key; ok is false when the input is not a statement
// (then it is taken as a receipt code).
func (m *Monitor) statement(input string) (s stmt, ok bool, err error) {
	if !strings.HasPrefix(input, wire.StatementPrefix) {
		return stmt{}, false, nil
	}
	st, err := wire.ParseStatement(input)
	if err != nil {
		return stmt{}, true, err
	}
	keys := []ed25519.PublicKey{}
	if all, ok := m.cfg.Kiosks.(interface {
		Keys(string) ([]ed25519.PublicKey, error)
	}); ok {
		// Keys the kiosk had before a rotation still verify what it
		// signed with them (central/keys.Register keeps them).
		keys, err = all.Keys(st.KioskID)
	} else {
		var pub ed25519.PublicKey
		pub, err = m.cfg.Kiosks.Lookup(st.KioskID)
		keys = append(keys, pub)
	}
	if err != nil {
		return stmt{}, true, err
	}
	err = wire.ErrSignature
	for _, pub := range keys {
		if wire.KeyIDOf(pub) == st.KeyID {
			err = st.Verify(pub)
			break
		}
	}
	if err != nil {
		return stmt{}, true, err
	}
	return stmt{kioskID: st.KioskID, packetID: st.PacketID, code: st.Code, accepted: st.Accepted}, true, nil
}

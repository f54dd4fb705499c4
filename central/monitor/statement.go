package monitor

import (
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
	pub, err := m.cfg.Kiosks.Lookup(st.KioskID)
	if err != nil {
		return stmt{}, true, err
	}
	if err := st.Verify(pub); err != nil {
		return stmt{}, true, err
	}
	return stmt{kioskID: st.KioskID, packetID: st.PacketID, code: st.Code, accepted: st.Accepted}, true, nil
}

package monitor

import "time"

// stmt is what the look-up needs of a verified receipt statement.
type stmt struct {
	kioskID, packetID, code string
	accepted                time.Time
}

// statement recognises the text of a receipt's QR code; ok is false when
// the input is not one (then it is taken as a receipt code).
func (m *Monitor) statement(input string) (s stmt, ok bool, err error) {
	return stmt{}, false, nil
}

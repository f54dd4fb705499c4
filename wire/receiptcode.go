package wire

import "strings"

// ReceiptCode is the short code printed on the customer's receipt for a
// packet: the first twelve hex digits of its id, upper case, in groups of
// four ("3F2A-91C0-77DE"). Kiosk and central derive it the same way, so the
// central can record it in its ledger and counter staff can look it up.
func ReceiptCode(packetID string) string {
	s := strings.ToUpper(packetID)
	if len(s) < 12 {
		return s
	}
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12]
}

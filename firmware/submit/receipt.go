package submit

import (
	"github.com/einwurf/einwurf/drivers/printer"
	"github.com/einwurf/einwurf/kiosk/session"
)

// PrintedReceipt is what the receipt printer prints for rc: the office and
// kiosk names, the time, the masked number, the team (team is the label the
// customer reads, e.g. from the UI's catalogue), the pages, the receipt code
// and the signed statement as QR code.
func PrintedReceipt(rc session.Receipt, office, kiosk, team string, l printer.Labels) printer.Receipt {
	if team == "" {
		team = rc.Team
	}
	return printer.Receipt{Office: office, Kiosk: kiosk, Time: rc.Accepted, Masked: rc.Masked, Team: team,
		Pages: rc.Pages, Code: rc.Number, QR: rc.Statement, Labels: l}
}

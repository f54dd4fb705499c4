package wire

import (
	"errors"
	"fmt"
)

// The number contract: which numbers a customer identifies with, what they
// look like once normalised, and which team of the job centre each kind
// routes to. The kiosk (kiosk/ident) parses what people type and readers
// send tolerantly and normalises it; the central checks the normalised
// number strictly with CheckNumber and routes by the kind it finds, never by
// what the kiosk says the team is.

// Kinds of number (packet.Meta.Kind).
const (
	// KindKundennummer identifies a customer of the placement team: 3
	// digits, a capital letter, 6 digits, e.g. 035F083761.
	KindKundennummer = "Kundennummer"
	// KindBGNummer identifies a Bedarfsgemeinschaft of the benefits team:
	// 5 digits, "BG" (printed as "//"), 7 digits, e.g. 03510BG0961289.
	KindBGNummer = "BG-Nummer"
)

// Teams documents are routed to (packet.Meta.Team, the inbox's first
// folder level).
const (
	TeamPlacement = "placement" // Arbeitsvermittlung
	TeamBenefits  = "benefits"  // Leistungsabteilung
)

// ErrNumber is returned for a number that is not a normalised Kundennummer
// or BG-Nummer. Its text never contains the number.
var ErrNumber = errors.New("wire: not a normalised Kundennummer or BG-Nummer")

// Number is a checked, normalised customer number with its kind and team.
type Number struct {
	// Norm is the normalised form: "035F083761" or "03510BG0961289" (safe
	// in file and folder names).
	Norm string
	Kind string // KindKundennummer or KindBGNummer
	Team string // TeamPlacement or TeamBenefits
}

// CheckNumber checks that s is a normalised number and returns it with its
// kind and team. It is strict: no spaces, no lower case, no "//".
func CheckNumber(s string) (Number, error) {
	switch {
	case len(s) == 10 && digits(s[:3]) && s[3] >= 'A' && s[3] <= 'Z' && digits(s[4:]):
		return Number{Norm: s, Kind: KindKundennummer, Team: TeamPlacement}, nil
	case len(s) == 14 && digits(s[:5]) && s[5:7] == "BG" && digits(s[7:]):
		return Number{Norm: s, Kind: KindBGNummer, Team: TeamBenefits}, nil
	}
	return Number{}, fmt.Errorf("%w (%d characters)", ErrNumber, len(s))
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

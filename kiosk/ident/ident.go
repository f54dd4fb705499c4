// Package ident parses and validates the numbers a customer identifies with:
// the Kundennummer (placement team) and the BG-Nummer (benefits team).
//
// Input comes from people typing on a touch screen and from barcode readers,
// so Parse tolerates what they add: spaces, lower case, an AIM symbology
// identifier in front (such as "]d2" or "]C0"), control characters such as
// CR/LF or STX/ETX around the data. It does not guess beyond that: anything
// else is rejected with an error that says what is wrong, without echoing the
// input (it may be a customer's number).
package ident

import (
	"errors"
	"fmt"
	"strings"

	"github.com/einwurf/einwurf/wire"
)

// Kind is the kind of customer number.
type Kind int

// Kinds of number.
const (
	// Kundennummer identifies a customer of the placement team: 3 digits, a
	// letter, 6 digits, e.g. 035F083761.
	Kundennummer Kind = iota + 1
	// BGNummer identifies a Bedarfsgemeinschaft of the benefits team: 5 digits,
	// "//" or "BG", 7 digits, e.g. 03510//0961289.
	BGNummer
)

// String names the kind as the job centre does.
func (k Kind) String() string {
	switch k {
	case Kundennummer:
		return wire.KindKundennummer
	case BGNummer:
		return wire.KindBGNummer
	}
	return "unknown"
}

// Team is the team of the job centre a document goes to.
type Team string

// Teams documents are routed to.
const (
	TeamPlacement Team = wire.TeamPlacement // Arbeitsvermittlung
	TeamBenefits  Team = wire.TeamBenefits  // Leistungsabteilung
)

// Errors Parse returns, wrapped with detail.
var (
	ErrEmpty   = errors.New("ident: no number given")
	ErrTooLong = errors.New("ident: input too long")
	ErrInvalid = errors.New("ident: not a Kundennummer or BG-Nummer")
)

// maxInput bounds the input Parse looks at; a reader frame or a typed number
// is far shorter.
const maxInput = 64

// Number is a validated customer number. The zero value is invalid.
type Number struct {
	kind Kind
	// norm is the normalised form: Kundennummer upper case, BG-Nummer with
	// "BG" as separator (safe in file and folder names).
	norm string
}

// Kind says which kind of number it is.
func (n Number) Kind() Kind { return n.kind }

// IsZero reports whether n is the zero (invalid) Number.
func (n Number) IsZero() bool { return n.kind == 0 }

// String returns the normalised form: "035F083761" or "03510BG0961289".
func (n Number) String() string { return n.norm }

// Display returns the form printed on the job centre's letters:
// "035F083761" or "03510//0961289".
func (n Number) Display() string {
	if n.kind == BGNummer {
		return n.norm[:5] + "//" + n.norm[7:]
	}
	return n.norm
}

// Masked returns a form safe to show on a screen others may see: enough for
// the customer to recognise their number, not enough to read it off.
func (n Number) Masked() string {
	switch n.kind {
	case Kundennummer:
		return n.norm[:4] + "****" + n.norm[8:]
	case BGNummer:
		return n.norm[:5] + "//****" + n.norm[11:]
	}
	return ""
}

// Team is the team the number routes to.
func (n Number) Team() Team {
	if n.kind == BGNummer {
		return TeamBenefits
	}
	return TeamPlacement
}

// Parse validates s and returns the number it holds.
func Parse(s string) (Number, error) {
	if len(s) > maxInput {
		return Number{}, fmt.Errorf("%w (%d characters, at most %d)", ErrTooLong, len(s), maxInput)
	}
	c := clean(s)
	if c == "" {
		return Number{}, ErrEmpty
	}
	norm := c
	if len(c) == 14 && c[5:7] == "//" {
		norm = c[:5] + "BG" + c[7:]
	}
	// The format itself is the wire contract's, which the central checks too.
	if w, err := wire.CheckNumber(norm); err == nil {
		kind := Kundennummer
		if w.Kind == wire.KindBGNummer {
			kind = BGNummer
		}
		return Number{kind: kind, norm: w.Norm}, nil
	}
	return Number{}, fmt.Errorf("%w: %s", ErrInvalid, explain(c))
}

// clean strips what readers and people add around and inside a number.
func clean(s string) string {
	s = strings.TrimLeft(s, "\x00\x02\x03\x04\r\n\t ")
	// An AIM symbology identifier: "]" + code character + modifier.
	if len(s) >= 3 && s[0] == ']' {
		s = s[3:]
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch <= ' ' || ch == 0x7f: // spaces and control characters
			continue
		case ch >= 'a' && ch <= 'z':
			ch -= 'a' - 'A'
		}
		b.WriteByte(ch)
	}
	return b.String()
}

// explain says what is wrong with a cleaned input, by shape only.
func explain(c string) string {
	switch {
	case strings.Contains(c, "//") || strings.Contains(c, "BG"):
		return "a BG-Nummer has 5 digits, // or BG, then 7 digits"
	case len(c) == 10:
		return "a Kundennummer has 3 digits, a letter, then 6 digits"
	}
	return fmt.Sprintf("%d characters; a Kundennummer has 10 (e.g. 123A456789), a BG-Nummer 14 (e.g. 12345//1234567)", len(c))
}

// MaskedApart is Masked, but where another of others has the same mask,
// the masked places where they differ are shown, so that a customer
// choosing between numbers can tell them apart.
func (n Number) MaskedApart(others ...Number) string {
	m := []byte(n.Masked())
	if len(m) == 0 {
		return ""
	}
	shown := n.Display()
	for _, o := range others {
		if o.Masked() != n.Masked() {
			continue
		}
		od := o.Display()
		for i := range m {
			if m[i] == '*' && od[i] != shown[i] {
				m[i] = shown[i]
			}
		}
	}
	return string(m)
}

package ident

import (
	"errors"
	"strings"
	"testing"
)

func TestParseGood(t *testing.T) {
	tests := []struct {
		in, norm, display, masked string
		kind                      Kind
		team                      Team
	}{
		{"035F083761", "035F083761", "035F083761", "035F****61", Kundennummer, TeamPlacement},
		{"035f083761", "035F083761", "035F083761", "035F****61", Kundennummer, TeamPlacement},
		{" 035 F 083761 ", "035F083761", "035F083761", "035F****61", Kundennummer, TeamPlacement},
		{"]d2035F083761\r\n", "035F083761", "035F083761", "035F****61", Kundennummer, TeamPlacement},
		{"\x02035F083761\x03", "035F083761", "035F083761", "035F****61", Kundennummer, TeamPlacement},
		{"03510//0961289", "03510BG0961289", "03510//0961289", "03510//****289", BGNummer, TeamBenefits},
		{"03510BG0961289", "03510BG0961289", "03510//0961289", "03510//****289", BGNummer, TeamBenefits},
		{"03510bg0961289", "03510BG0961289", "03510//0961289", "03510//****289", BGNummer, TeamBenefits},
		{"]C003510BG0961289\n", "03510BG0961289", "03510//0961289", "03510//****289", BGNummer, TeamBenefits},
		{"03510 // 0961289", "03510BG0961289", "03510//0961289", "03510//****289", BGNummer, TeamBenefits},
	}
	for _, tt := range tests {
		n, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if n.String() != tt.norm || n.Display() != tt.display || n.Masked() != tt.masked ||
			n.Kind() != tt.kind || n.Team() != tt.team {
			t.Errorf("Parse(%q) = %s/%s/%s/%v/%v, want %s/%s/%s/%v/%v", tt.in,
				n, n.Display(), n.Masked(), n.Kind(), n.Team(),
				tt.norm, tt.display, tt.masked, tt.kind, tt.team)
		}
	}
}

func TestParseBad(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{"", ErrEmpty},
		{" \r\n", ErrEmpty},
		{"]d2", ErrEmpty},
		{"035F08376", ErrInvalid},     // one digit short
		{"035F0837610", ErrInvalid},   // one digit long
		{"0351083761", ErrInvalid},    // no letter
		{"035FF83761", ErrInvalid},    // two letters
		{"03Ä083761", ErrInvalid},     // umlaut
		{"03510/0961289", ErrInvalid}, // one slash
		{"03510//096128", ErrInvalid}, // 6 digits after
		{"0351//0961289", ErrInvalid}, // 4 digits before
		{"03510XX0961289", ErrInvalid},
		{"035F-083761", ErrInvalid},
		{strings.Repeat("1", 65), ErrTooLong},
	}
	for _, tt := range tests {
		n, err := Parse(tt.in)
		if !errors.Is(err, tt.want) {
			t.Errorf("Parse(%q) = %v, %v; want %v", tt.in, n, err, tt.want)
		}
		if !n.IsZero() {
			t.Errorf("Parse(%q) returned a non-zero number with an error", tt.in)
		}
		if err != nil && len(tt.in) > 4 && strings.Contains(err.Error(), strings.TrimSpace(tt.in)) {
			t.Errorf("error for %q echoes the input: %v", tt.in, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"035F083761", "03510//0961289", "03510BG0961289", "]d2035f083761\r\n", "", "//", "]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err != nil {
			if !n.IsZero() {
				t.Fatalf("error with a number: %q", s)
			}
			return
		}
		// A parsed number parses again to itself in every printed form.
		for _, form := range []string{n.String(), n.Display()} {
			m, err := Parse(form)
			if err != nil || m != n {
				t.Fatalf("Parse(%q) of %q = %v, %v", form, s, m, err)
			}
		}
		if len(n.Masked()) != len(n.Display()) {
			t.Fatalf("masked form length differs: %q", n.Masked())
		}
		if strings.ContainsAny(n.String(), "/ ") {
			t.Fatalf("normal form not file-safe: %q", n)
		}
	})
}

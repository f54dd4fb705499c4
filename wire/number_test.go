package wire

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckNumber(t *testing.T) {
	for _, c := range []struct {
		in         string
		kind, team string
	}{
		{"035F083761", KindKundennummer, TeamPlacement},
		{"000A000000", KindKundennummer, TeamPlacement},
		{"03510BG0961289", KindBGNummer, TeamBenefits},
	} {
		n, err := CheckNumber(c.in)
		if err != nil || n.Norm != c.in || n.Kind != c.kind || n.Team != c.team {
			t.Errorf("CheckNumber(%q) = %+v, %v", c.in, n, err)
		}
	}
	for _, bad := range []string{"", "035f083761", "035F08376", "035F0837611", "03510//0961289",
		"03510bg0961289", " 035F083761", "035F083761\n", "0351XBG0961289", "03510BG096128X", "ABCDEFGHIJ",
		"035\u00c4083761", "../../etc/pw"} {
		n, err := CheckNumber(bad)
		if !errors.Is(err, ErrNumber) || n != (Number{}) {
			t.Errorf("CheckNumber(%q) = %+v, %v; want ErrNumber", bad, n, err)
		}
		if bad != "" && strings.Contains(err.Error(), bad) {
			t.Errorf("error %q echoes the input", err)
		}
	}
}

func FuzzCheckNumber(f *testing.F) {
	for _, s := range []string{"035F083761", "03510BG0961289", "03510//0961289", "", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := CheckNumber(s)
		if err != nil {
			if !errors.Is(err, ErrNumber) || n != (Number{}) {
				t.Fatalf("CheckNumber(%q) = %+v, %v", s, n, err)
			}
			return
		}
		// What passes is safe as a folder name and checks again the same.
		if n.Norm != s || strings.ContainsAny(s, "/\\. \x00") || (n.Team != TeamPlacement && n.Team != TeamBenefits) {
			t.Fatalf("CheckNumber(%q) = %+v", s, n)
		}
		if again, err := CheckNumber(n.Norm); err != nil || again != n {
			t.Fatalf("not stable: %+v, %v", again, err)
		}
	})
}

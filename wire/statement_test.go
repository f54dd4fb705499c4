package wire

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"
)

func testStatement() Statement {
	return Statement{KioskID: "kiosk-berlin-03", PacketID: "3f2a9c0d4e5b6a7f8091a2b3c4d5e6f7",
		Accepted: time.Date(2026, 12, 1, 9, 41, 7, 0, time.UTC), Pages: 12,
		PDF: sha256.Sum256([]byte("pdf")), Code: "3F2A-9C0D-4E5B"}
}

func TestStatementRoundTrip(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	want := testStatement()
	text, err := want.Sign(key)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("statement: %d characters", len(text))
	if len(text) > 260 {
		t.Errorf("statement of %d characters is too long for a small QR code", len(text))
	}
	for _, c := range text {
		if !strings.ContainsRune(b45+"EW1:", c) {
			t.Fatalf("character %q outside the QR alphanumeric alphabet", c)
		}
	}
	s, err := ParseStatement(text)
	if err != nil {
		t.Fatal(err)
	}
	want.KeyID = KeyIDOf(pub)
	if s.Statement != want {
		t.Fatalf("parsed %+v, want %+v", s.Statement, want)
	}
	if err := s.Verify(pub); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	other, _, _ := ed25519.GenerateKey(nil)
	if err := s.Verify(other); !errors.Is(err, ErrSignature) {
		t.Fatalf("Verify with another key: %v", err)
	}
	// Non-hex packet ids travel as text.
	want.PacketID = "pkt-1"
	text2, _ := want.Sign(key)
	if s2, err := ParseStatement(text2); err != nil || s2.PacketID != "pkt-1" || s2.Verify(pub) != nil {
		t.Fatalf("text packet id: %+v %v", s2, err)
	}
}

// Every change of a signed statement's text is caught: by the parser or by
// the signature.
func TestStatementTampered(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	text, _ := testStatement().Sign(key)
	for i := len(StatementPrefix); i < len(text); i++ {
		for _, c := range []byte{'0', 'Z', ':'} {
			if text[i] == c {
				continue
			}
			b := []byte(text)
			b[i] = c
			s, err := ParseStatement(string(b))
			if err == nil {
				err = s.Verify(pub)
			}
			if err == nil {
				t.Fatalf("changed character %d to %q: still verifies", i, c)
			}
		}
	}
	for _, bad := range []string{"", "EW1:", "EW2:" + text[4:], text + "0", text[:len(text)-3], strings.ToLower(text), "EW1:" + strings.Repeat("0", 2000)} {
		if _, err := ParseStatement(bad); !errors.Is(err, ErrStatement) {
			t.Errorf("ParseStatement(%.20q…) = %v, want ErrStatement", bad, err)
		}
	}
}

func TestStatementCheck(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	for name, f := range map[string]func(*Statement){
		"kiosk":  func(s *Statement) { s.KioskID = "Kiosk/1" },
		"packet": func(s *Statement) { s.PacketID = "" },
		"pages":  func(s *Statement) { s.Pages = 0 },
		"time":   func(s *Statement) { s.Accepted = time.Time{} },
		"code":   func(s *Statement) { s.Code = "with space" },
	} {
		s := testStatement()
		f(&s)
		if _, err := s.Sign(key); !errors.Is(err, ErrStatement) {
			t.Errorf("%s: Sign = %v, want ErrStatement", name, err)
		}
	}
}

func FuzzParseStatement(f *testing.F) {
	pub, key, _ := ed25519.GenerateKey(nil)
	text, _ := testStatement().Sign(key)
	f.Add(text)
	f.Add("EW1:")
	f.Add("EW1:00")
	f.Fuzz(func(t *testing.T, s string) {
		st, err := ParseStatement(s)
		if err != nil {
			if !errors.Is(err, ErrStatement) {
				t.Fatalf("error %v is not ErrStatement", err)
			}
			return
		}
		// A statement that parses has its one text form.
		if got := StatementPrefix + base45(append(append([]byte{}, st.body...), st.sig...)); got != strings.TrimSpace(s) {
			t.Fatalf("text form not canonical: %q vs %q", got, s)
		}
		if st.Verify(pub) == nil && strings.TrimSpace(s) != text {
			t.Fatalf("a different statement verifies: %q", s)
		}
	})
}

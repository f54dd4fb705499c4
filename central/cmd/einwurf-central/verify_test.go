package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/einwurf/einwurf/wire"
)

func TestVerify(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	var out bytes.Buffer
	ctx := context.Background()
	if err := run(ctx, []string{"keygen", "-keys", dir}, &out, &out); err != nil {
		t.Fatal(err)
	}
	pub, key, _ := ed25519.GenerateKey(nil)
	if err := run(ctx, []string{"enrol", "-keys", dir, "-kiosk", "k-1", "-pub", base64.StdEncoding.EncodeToString(pub)}, &out, &out); err != nil {
		t.Fatal(err)
	}
	pdf := filepath.Join(t.TempDir(), "doc.pdf")
	os.WriteFile(pdf, []byte("%PDF-1.7 test"), 0o644)
	st := wire.Statement{KioskID: "k-1", PacketID: "00112233445566778899aabbccddeeff", Accepted: time.Date(2026, 12, 1, 9, 41, 7, 0, time.UTC),
		Pages: 4, PDF: sha256.Sum256([]byte("%PDF-1.7 test")), Code: "0011-2233-4455"}
	text, _ := st.Sign(key)
	out.Reset()
	if err := run(ctx, []string{"verify", "-keys", dir, "-pdf", pdf, text}, &out, &out); err != nil {
		t.Fatalf("verify: %v\n%s", err, out.String())
	}
	for _, want := range []string{"valid: signed by kiosk k-1", "00112233445566778899aabbccddeeff", "2026-12-01T09:41:07Z", "pages:    4", "0011-2233-4455"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	// After a key rotation the statement still verifies, by the earlier key.
	newPub, _, _ := ed25519.GenerateKey(nil)
	if err := run(ctx, []string{"enrol", "-keys", dir, "-kiosk", "k-1", "-pub", base64.StdEncoding.EncodeToString(newPub)}, &out, &out); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(ctx, []string{"verify", "-keys", dir, text}, &out, &out); err != nil || !strings.Contains(out.String(), "earlier key, since rotated") {
		t.Fatalf("verify after rotation: %v\n%s", err, out.String())
	}
	other := filepath.Join(t.TempDir(), "other.pdf")
	os.WriteFile(other, []byte("another"), 0o644)
	_, otherKey, _ := ed25519.GenerateKey(nil)
	forged, _ := st.Sign(otherKey)
	st.KioskID = "k-2"
	unknown, _ := st.Sign(key)
	for name, args := range map[string][]string{
		"forged":    {forged},
		"unknown":   {unknown},
		"garbage":   {"EW1:ABC"},
		"other pdf": {"-pdf", other, text},
	} {
		out.Reset()
		err := run(ctx, append([]string{"verify", "-keys", dir}, args...), &out, &out)
		if !errors.Is(err, errInvalid) || !strings.Contains(out.String(), "NOT valid") {
			t.Errorf("%s: %v\n%s", name, err, out.String())
		}
	}
}

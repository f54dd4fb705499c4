package command

import (
	"crypto/ed25519"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/einwurf/einwurf/wire"
)

// FuzzParse feeds the kiosk's command parser arbitrary messages: it must
// never panic, and whatever it accepts must be signed by the central, for
// this kiosk, unexpired, newer than the last sequence and of a known kind.
func FuzzParse(f *testing.F) {
	seed := [32]byte{1}
	central := ed25519.NewKeyFromSeed(seed[:])
	pub := central.Public().(ed25519.PublicKey)
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, c := range []wire.Command{
		{KioskID: "k-1", Seq: 5, Expires: now.Add(time.Minute), Kind: wire.CmdReboot},
		{KioskID: "k-1", Seq: 9, Expires: now.Add(time.Hour), Kind: wire.CmdOutOfService, Args: map[string]string{"reason": "maintenance"}},
		{KioskID: "k-2", Seq: 5, Expires: now.Add(time.Minute), Kind: wire.CmdReboot},
		{KioskID: "k-1", Seq: 1, Expires: now.Add(time.Minute), Kind: wire.CmdReboot},
		{KioskID: "k-1", Seq: 7, Expires: now.Add(time.Minute), Kind: wire.CmdKeyEnrolled,
			Args: map[string]string{"pub": base64.StdEncoding.EncodeToString(pub)}},
		{KioskID: "k-1", Seq: 8, Expires: now.Add(time.Minute), Kind: wire.CmdKeyEnrolled, Args: map[string]string{"pub": "AAAA"}},
	} {
		b, _ := wire.Sign(central, wire.TypeCommand, c)
		f.Add(b)
	}
	// A window whose highest number is 3, everything at and below it
	// carried out (the earlier file format).
	wpath := filepath.Join(f.TempDir(), "command.seq")
	if err := os.WriteFile(wpath, []byte("3\n"), 0o600); err != nil {
		f.Fatal(err)
	}
	win, err := OpenWindow(wpath)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{"type":"command","body":{},"sig":""}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, pub, "k-1", win, now)
		if err != nil {
			if Refusal(err) == "" {
				t.Fatalf("refusal without a reason: %v", err)
			}
			return
		}
		if wire.Verify(pub, wire.TypeCommand, data, new(wire.Command)) != nil {
			t.Fatal("accepted a message the central did not sign")
		}
		if c.KioskID != "k-1" || c.Seq <= 3 || !now.Before(c.Expires) {
			t.Fatalf("accepted %+v", c)
		}
		if _, ok := allowedArgs[c.Kind]; !ok {
			t.Fatalf("accepted kind %q", c.Kind)
		}
		if c.Kind == wire.CmdKeyEnrolled {
			if _, err := ParseKeyArg(c.Args["pub"]); err != nil {
				t.Fatalf("accepted key-enrolled without a key: %q", c.Args["pub"])
			}
		}
	})
}

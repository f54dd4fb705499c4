package wire

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"testing"

	"filippo.io/age"
)

func TestParseCentralKeys(t *testing.T) {
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	good, _ := json.Marshal(CentralKeys{AgeRecipient: id.Recipient().String(), SignPub: pub})
	k, err := ParseCentralKeys(good)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := k.Recipient(); err != nil || r.String() != id.Recipient().String() {
		t.Fatalf("recipient: %v", err)
	}
	x, _ := age.GenerateX25519Identity()
	classic, _ := json.Marshal(CentralKeys{AgeRecipient: x.Recipient().String(), SignPub: pub})
	for _, bad := range [][]byte{classic, []byte(`{"age_recipient":"` + id.Recipient().String() + `","sign_pub":"AAAA"}`),
		[]byte(`{"age_recipient":"x","sign_pub":"AAAA","extra":1}`), []byte(`[`)} {
		if _, err := ParseCentralKeys(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("accepted %.60s: %v", bad, err)
		}
	}
}

package wire

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSignVerify(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	otherPub, _, _ := ed25519.GenerateKey(nil)
	m := Manifest{V: 1, PacketID: "p1", KioskID: "k-1", Created: time.Unix(1, 0).UTC(), Size: 10,
		SHA256: strings.Repeat("ab", 32), ChunkSize: ChunkSize}
	data, err := Sign(key, TypeManifest, m)
	if err != nil {
		t.Fatal(err)
	}
	var got Manifest
	if err := Verify(pub, TypeManifest, data, &got); err != nil || got != m {
		t.Fatalf("Verify = %v, %+v", err, got)
	}
	if err := Verify(otherPub, TypeManifest, data, &got); !errors.Is(err, ErrSignature) {
		t.Fatalf("other key: %v", err)
	}
	// The same signature must not pass as another type.
	forged := strings.Replace(string(data), `"type":"manifest"`, `"type":"receipt"`, 1)
	if err := Verify(pub, TypeReceipt, []byte(forged), &Receipt{}); !errors.Is(err, ErrSignature) {
		t.Fatalf("type confusion: %v", err)
	}
	tampered := strings.Replace(string(data), `"size":10`, `"size":11`, 1)
	if err := Verify(pub, TypeManifest, []byte(tampered), &got); err == nil {
		t.Fatal("tampered body verified")
	}
}

func TestManifestChunks(t *testing.T) {
	m := Manifest{Size: 3*ChunkSize + 5, ChunkSize: ChunkSize}
	if m.Chunks() != 4 || m.ChunkLen(0) != ChunkSize || m.ChunkLen(3) != 5 {
		t.Fatalf("chunks %d, last %d", m.Chunks(), m.ChunkLen(3))
	}
	m = Manifest{Size: 2 * ChunkSize, ChunkSize: ChunkSize}
	if m.Chunks() != 2 || m.ChunkLen(1) != ChunkSize {
		t.Fatal("exact multiple")
	}
}

func TestPacketTopics(t *testing.T) {
	pt, err := ParsePacketTopic(ChunkTopic("k-1", "abc", 12))
	if err != nil || pt != (PacketTopic{"k-1", "abc", 12}) {
		t.Fatalf("%+v %v", pt, err)
	}
	pt, err = ParsePacketTopic(OfferTopic("k-1", "abc"))
	if err != nil || pt.Chunk != -1 {
		t.Fatalf("%+v %v", pt, err)
	}
	for _, bad := range []string{"", "einwurf/v1/k/k-1/pkt/abc", "einwurf/v1/k/k-1/pkt/abc/chunk/01",
		"einwurf/v1/k/k-1/pkt/abc/chunk/-1", "einwurf/v1/k/K/pkt/abc/offer", "einwurf/v1/k/k-1/pkt/abc/chunk/99999999",
		"einwurf/v1/k/k-1/pkt/abc/offer/x", "other/v1/k/k-1/pkt/abc/offer"} {
		if _, err := ParsePacketTopic(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestCommandCheck(t *testing.T) {
	now := time.Now()
	c := Command{KioskID: "k-1", Seq: 5, Expires: now.Add(time.Minute), Kind: "ping"}
	if err := c.Check("k-1", 4, now); err != nil {
		t.Fatal(err)
	}
	if c.Check("k-2", 4, now) == nil || c.Check("k-1", 5, now) == nil {
		t.Fatal("wrong kiosk or replayed sequence accepted")
	}
	if err := c.Check("k-1", 4, now.Add(2*time.Minute)); !errors.Is(err, ErrExpired) {
		t.Fatal("expired accepted")
	}
}

func FuzzOpenSigned(f *testing.F) {
	_, key, _ := ed25519.GenerateKey(nil)
	good, _ := Sign(key, TypeReceipt, Receipt{PacketID: "p", KioskID: "k", Status: ReceiptFiled})
	f.Add(good)
	f.Add([]byte(`{"type":"receipt"}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := OpenSigned(b, TypeReceipt)
		if err != nil {
			return
		}
		var r Receipt
		_ = s.Verify(ed25519.PublicKey(key.Public().(ed25519.PublicKey)), &r)
	})
}

func FuzzParsePacketTopic(f *testing.F) {
	f.Add(ChunkTopic("k-1", "abc", 3))
	f.Add(OfferTopic("k-1", "abc"))
	f.Fuzz(func(t *testing.T, s string) {
		pt, err := ParsePacketTopic(s)
		if err != nil {
			return
		}
		var back string
		if pt.Chunk < 0 {
			back = OfferTopic(pt.KioskID, pt.PacketID)
		} else {
			back = ChunkTopic(pt.KioskID, pt.PacketID, pt.Chunk)
		}
		if back != s {
			t.Fatalf("%q parsed to %+v which prints %q", s, pt, back)
		}
	})
}

func FuzzParseCentralKeys(f *testing.F) {
	f.Add([]byte(`{"age_recipient":"age1pq1xyz","sign_pub":"AAAA"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseCentralKeys(b)
		if err != nil {
			return
		}
		if _, err := k.Recipient(); err != nil || len(k.SignPub) != ed25519.PublicKeySize {
			t.Fatal("accepted unusable keys")
		}
	})
}

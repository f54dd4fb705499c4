package ingest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/einwurf/einwurf/wire"
	"github.com/einwurf/einwurf/wire/packet"
)

type registry map[string]ed25519.PublicKey

func (r registry) Lookup(id string) (ed25519.PublicKey, error) {
	if k, ok := r[id]; ok {
		return k, nil
	}
	return nil, errors.New("unknown")
}

type fixture struct {
	in        *Ingest
	inbox     string
	central   *age.HybridIdentity
	centralPK ed25519.PublicKey
	kioskKey  ed25519.PrivateKey
	filed     []Filed
	// editMeta, when set, changes the inner metadata seal writes.
	editMeta func(*packet.Meta)
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	cpub, csk, _ := ed25519.GenerateKey(nil)
	kpub, ksk, _ := ed25519.GenerateKey(nil)
	f := &fixture{inbox: filepath.Join(t.TempDir(), "inbox"), central: id, centralPK: cpub, kioskKey: ksk}
	state := filepath.Join(t.TempDir(), "state")
	f.in, err = New(Config{StateDir: state, InboxDir: f.inbox, Identity: id, SignKey: csk,
		Kiosks: registry{"k-a": kpub}, OnFiled: func(fd Filed) { f.filed = append(f.filed, fd) }})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

type sealedPacket struct {
	m      wire.Manifest
	offer  []byte
	cipher []byte
	pdf    []byte
}

func (f *fixture) seal(t *testing.T, kiosk, innerKiosk, innerPacket string, pdfSize int) sealedPacket {
	t.Helper()
	pdf := bytes.Repeat([]byte("%PDF-1.7 fake page content\n"), pdfSize/27+1)[:pdfSize]
	sum := sha256.Sum256(pdf)
	id := packet.NewID()
	if innerPacket == "" {
		innerPacket = id
	}
	meta := packet.Meta{V: 1, PacketID: innerPacket, KioskID: innerKiosk, Number: "035F083761", Kind: "Kundennummer",
		Team: "placement", Scanned: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC), Pages: 2,
		PDFSize: int64(len(pdf)), PDFSHA256: hex.EncodeToString(sum[:])}
	if f.editMeta != nil {
		f.editMeta(&meta)
	}
	var ct bytes.Buffer
	s, err := packet.Seal(&ct, f.central.Recipient(), meta, bytes.NewReader(pdf))
	if err != nil {
		t.Fatal(err)
	}
	m := wire.Manifest{V: 1, PacketID: id, KioskID: kiosk, Created: time.Now().UTC(), Size: s.Size,
		SHA256: hex.EncodeToString(s.SHA256[:]), ChunkSize: 64 << 10}
	offer, _ := wire.Sign(f.kioskKey, wire.TypeManifest, m)
	return sealedPacket{m: m, offer: offer, cipher: ct.Bytes(), pdf: pdf}
}

func (p sealedPacket) chunk(n int) []byte {
	off := n * p.m.ChunkSize
	data := p.cipher[off : off+p.m.ChunkLen(n)]
	sum := sha256.Sum256(data)
	return append(sum[:], data...)
}

// deliver sends the offer and every chunk in the given order; it returns
// the last reply.
func (f *fixture) deliver(t *testing.T, p sealedPacket, order []int) []Reply {
	t.Helper()
	r, err := f.in.Handle(wire.OfferTopic(p.m.KioskID, p.m.PacketID), p.offer)
	if err != nil {
		t.Fatalf("offer: %v", err)
	}
	for _, n := range order {
		r, err = f.in.Handle(wire.ChunkTopic(p.m.KioskID, p.m.PacketID, n), p.chunk(n))
		if err != nil {
			t.Fatalf("chunk %d: %v", n, err)
		}
	}
	return r
}

func (f *fixture) receipt(t *testing.T, r []Reply) wire.Receipt {
	t.Helper()
	if len(r) != 1 {
		t.Fatalf("%d replies, want one receipt", len(r))
	}
	var rc wire.Receipt
	if err := wire.Verify(f.centralPK, wire.TypeReceipt, r[0].Payload, &rc); err != nil {
		t.Fatalf("receipt: %v (topic %s)", err, r[0].Topic)
	}
	return rc
}

func TestFileOutOfOrderAndDuplicated(t *testing.T) {
	f := newFixture(t)
	p := f.seal(t, "k-a", "k-a", "", 300<<10)
	n := p.m.Chunks()
	if n < 4 {
		t.Fatalf("want several chunks, have %d", n)
	}
	// Offer first: progress lists everything missing.
	r, err := f.in.Handle(wire.OfferTopic("k-a", p.m.PacketID), p.offer)
	if err != nil || len(r) != 1 || r[0].Topic != wire.ProgressTopic("k-a") {
		t.Fatalf("offer reply %v %v", r, err)
	}
	var pr wire.Progress
	if err := wire.Verify(f.centralPK, wire.TypeProgress, r[0].Payload, &pr); err != nil || len(pr.Missing) != n {
		t.Fatalf("progress %+v %v", pr, err)
	}
	order := []int{}
	for i := n - 1; i >= 1; i-- {
		order = append(order, i, i) // reversed, each twice
	}
	f.deliver(t, p, order)
	// A re-offer (kiosk restarted) learns only chunk 0 is missing.
	r, _ = f.in.Handle(wire.OfferTopic("k-a", p.m.PacketID), p.offer)
	wire.Verify(f.centralPK, wire.TypeProgress, r[0].Payload, &pr)
	if len(pr.Missing) != 1 || pr.Missing[0] != 0 {
		t.Fatalf("resume point %v", pr.Missing)
	}
	r, err = f.in.Handle(wire.ChunkTopic("k-a", p.m.PacketID, 0), p.chunk(0))
	if err != nil {
		t.Fatal(err)
	}
	rc := f.receipt(t, r)
	if rc.Status != wire.ReceiptFiled || rc.PacketID != p.m.PacketID || rc.SHA256 != p.m.SHA256 {
		t.Fatalf("receipt %+v", rc)
	}
	if len(f.filed) != 1 {
		t.Fatalf("filed %d times", len(f.filed))
	}
	got, err := os.ReadFile(f.filed[0].PDF)
	if err != nil || !bytes.Equal(got, p.pdf) {
		t.Fatal("filed PDF differs")
	}
	if filepath.Dir(f.filed[0].PDF) != filepath.Join(f.inbox, "placement", "035F083761") {
		t.Fatalf("filed under %s", f.filed[0].PDF)
	}
	var sc Sidecar
	b, _ := os.ReadFile(f.filed[0].Sidecar)
	if err := json.Unmarshal(b, &sc); err != nil || sc.PacketID != p.m.PacketID || sc.Pages != 2 || sc.KioskID != "k-a" {
		t.Fatalf("sidecar %+v %v", sc, err)
	}
	// Redelivery of everything: the same receipt, nothing filed again.
	// A resent chunk 0 reminds the kiosk with the receipt.
	r = f.deliver(t, p, []int{1, 0})
	if rc := f.receipt(t, r); rc.Status != wire.ReceiptFiled || rc.PacketID != p.m.PacketID {
		t.Fatalf("reply to a resent chunk 0: %+v", rc)
	}
	r2, _ := f.in.Handle(wire.OfferTopic("k-a", p.m.PacketID), p.offer)
	if f.receipt(t, r2).Status != wire.ReceiptFiled || len(f.filed) != 1 {
		t.Fatalf("redelivery filed again (%d)", len(f.filed))
	}
	// Chunks were dropped once filed.
	des, _ := os.ReadDir(f.in.packetDir("k-a", p.m.PacketID))
	for _, de := range des {
		if len(de.Name()) > 6 && de.Name()[:6] == "chunk-" {
			t.Fatal("chunks left after filing")
		}
	}
}

func TestIdempotentAcrossRestart(t *testing.T) {
	f := newFixture(t)
	p := f.seal(t, "k-a", "k-a", "", 1000)
	f.receipt(t, f.deliver(t, p, []int{0}))
	again, err := New(f.in.cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := again.Handle(wire.OfferTopic("k-a", p.m.PacketID), p.offer)
	if err != nil || f.receipt(t, r).Status != wire.ReceiptFiled || len(f.filed) != 1 {
		t.Fatalf("after restart: %v, filed %d", err, len(f.filed))
	}
}

func countFiles(dir string) int {
	n := 0
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, _ error) error {
		if d != nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

func TestRejects(t *testing.T) {
	f := newFixture(t)
	_, strangerKey, _ := ed25519.GenerateKey(nil)

	// Unknown kiosk.
	p := f.seal(t, "k-zz", "k-zz", "", 1000)
	if _, err := f.in.Handle(wire.OfferTopic("k-zz", p.m.PacketID), p.offer); !errors.Is(err, ErrUnknownKiosk) {
		t.Errorf("unknown kiosk: %v", err)
	}
	// Wrong signature: signed by a stranger, sent as k-a.
	p = f.seal(t, "k-a", "k-a", "", 1000)
	forged, _ := wire.Sign(strangerKey, wire.TypeManifest, p.m)
	if _, err := f.in.Handle(wire.OfferTopic("k-a", p.m.PacketID), forged); !errors.Is(err, ErrSignature) {
		t.Errorf("forged signature: %v", err)
	}
	// Signed by k-a, but offered under another packet id.
	if _, err := f.in.Handle(wire.OfferTopic("k-a", "other"), p.offer); !errors.Is(err, ErrManifest) {
		t.Errorf("topic mismatch: %v", err)
	}
	// A chunk before its offer, and a chunk whose hash is wrong.
	if _, err := f.in.Handle(wire.ChunkTopic("k-a", p.m.PacketID, 0), p.chunk(0)); !errors.Is(err, ErrNoOffer) {
		t.Errorf("chunk without offer: %v", err)
	}
	f.in.Handle(wire.OfferTopic("k-a", p.m.PacketID), p.offer)
	bad := p.chunk(0)
	bad[len(bad)-1] ^= 1
	if _, err := f.in.Handle(wire.ChunkTopic("k-a", p.m.PacketID, 0), bad); !errors.Is(err, ErrChunk) {
		t.Errorf("bad chunk hash: %v", err)
	}
	if countFiles(f.inbox) != 0 {
		t.Fatal("something was filed")
	}

	// Tampered ciphertext under a valid signature over the tampered hash
	// cannot happen without the key; a tampered ciphertext with consistent
	// chunk hashes but the original manifest is caught by the manifest hash.
	p = f.seal(t, "k-a", "k-a", "", 1000)
	tampered := p
	tampered.cipher = bytes.Clone(p.cipher)
	tampered.cipher[len(tampered.cipher)-5] ^= 1
	rc := f.receipt(t, f.deliver(t, tampered, []int{0}))
	if rc.Status != wire.ReceiptRejected || rc.Reason != "ciphertext" {
		t.Errorf("tampered ciphertext: %+v", rc)
	}
	// A payload whose inner kiosk or packet id differs from the manifest.
	for _, p := range []sealedPacket{f.seal(t, "k-a", "k-b", "", 1000), f.seal(t, "k-a", "k-a", "deadbeef", 1000)} {
		rc := f.receipt(t, f.deliver(t, p, []int{0}))
		if rc.Status != wire.ReceiptRejected || rc.Reason != "payload" {
			t.Errorf("inner id mismatch: %+v", rc)
		}
	}
	if countFiles(f.inbox) != 0 || len(f.filed) != 0 {
		t.Fatal("a rejected packet was filed")
	}
}

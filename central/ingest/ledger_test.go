package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/einwurf/einwurf/central/store"
	"github.com/einwurf/einwurf/central/store/sqlite"
	"github.com/einwurf/einwurf/central/store/storetest"
	"github.com/einwurf/einwurf/wire"
	"github.com/einwurf/einwurf/wire/packet"
)

// TestRoutesByNumber: the team comes from the number (wire.CheckNumber),
// not from what the kiosk says; a number that is not one is rejected.
func TestRoutesByNumber(t *testing.T) {
	f := newFixture(t)
	f.editMeta = func(m *packet.Meta) { m.Team, m.Kind = wire.TeamBenefits, wire.KindBGNummer } // lies
	p := f.seal(t, "k-a", "k-a", "", 1000)
	if rc := f.receipt(t, f.deliver(t, p, []int{0})); rc.Status != wire.ReceiptFiled {
		t.Fatalf("receipt %+v", rc)
	}
	if len(f.filed) != 1 || f.filed[0].Team != wire.TeamPlacement || filepath.Base(filepath.Dir(filepath.Dir(f.filed[0].PDF))) != wire.TeamPlacement {
		t.Fatalf("filed %+v, want the placement team's inbox", f.filed)
	}
	var sc Sidecar
	b, _ := os.ReadFile(f.filed[0].Sidecar)
	if err := json.Unmarshal(b, &sc); err != nil || sc.Team != wire.TeamPlacement || sc.Kind != wire.KindKundennummer {
		t.Fatalf("sidecar %+v %v", sc, err)
	}
	rec, err := f.in.cfg.Ledger.Lookup(context.Background(), "k-a", p.m.PacketID)
	if err != nil || rec.Team != wire.TeamPlacement || rec.Pages != 2 || rec.Status != wire.ReceiptFiled || !rec.Created.Equal(p.m.Created) {
		t.Fatalf("ledger %+v %v", rec, err)
	}
	// The receipt's printed code finds it (the counter's look-up).
	if byCode, err := f.in.cfg.Ledger.LookupCode(context.Background(), wire.ReceiptCode(p.m.PacketID)); err != nil || byCode.PacketID != p.m.PacketID {
		t.Fatalf("LookupCode: %+v %v", byCode, err)
	}
	for _, bad := range []string{"035F08376", "../../etc", "035f083761", "03510//0961289"} {
		f.editMeta = func(m *packet.Meta) { m.Number = bad }
		p := f.seal(t, "k-a", "k-a", "", 1000)
		if rc := f.receipt(t, f.deliver(t, p, []int{0})); rc.Status != wire.ReceiptRejected || rc.Reason != "payload" {
			t.Fatalf("number of %d characters: %+v", len(bad), rc)
		}
	}
	if len(f.filed) != 1 {
		t.Fatalf("%d filed, want 1", len(f.filed))
	}
}

// TestSharedLedger: two ingest processes (two Ingests) share one state
// folder and one ledger; a packet's chunks reach both. It is filed once,
// and a claim left by a process that died mid-filing is taken over only
// when its lease ends.
func TestSharedLedger(t *testing.T) {
	ctx := context.Background()
	clock := storetest.NewClock(time.Now())
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "central.db"), sqlite.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f := newFixture(t)
	a, b := f.shared(t, st, "a"), f.shared(t, st, "b")
	p := f.seal(t, "k-a", "k-a", "", 300<<10)
	n := p.m.Chunks()
	for _, in := range []*Ingest{a, b} {
		if _, err := in.Handle(wire.OfferTopic("k-a", p.m.PacketID), p.offer); err != nil {
			t.Fatal(err)
		}
	}
	var last []Reply
	for i := 0; i < n; i++ {
		in := a
		if i%2 == 1 {
			in = b
		}
		if last, err = in.Handle(wire.ChunkTopic("k-a", p.m.PacketID, i), p.chunk(i)); err != nil {
			t.Fatal(err)
		}
	}
	if rc := f.receipt(t, last); rc.Status != wire.ReceiptFiled || len(f.filed) != 1 {
		t.Fatalf("%+v, filed %d", rc, len(f.filed))
	}
	// The other process answers a re-offer with the same receipt.
	r, err := a.Handle(wire.OfferTopic("k-a", p.m.PacketID), p.offer)
	if err != nil || len(r) != 1 || string(r[0].Payload) != string(last[0].Payload) {
		t.Fatalf("re-offer: %v %v", r, err)
	}
	if _, err := os.Stat(a.packetDir("k-a", p.m.PacketID)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("packet folder left after recording: %v", err)
	}

	// A process died holding the claim of the next packet.
	q := f.seal(t, "k-a", "k-a", "", 1000)
	if rec, err := st.Claim(ctx, "k-a", q.m.PacketID, "dead", time.Minute); err != nil || rec != nil {
		t.Fatal(rec, err)
	}
	r, err = f.deliverTo(b, q)
	if err != nil || len(r) != 0 || len(f.filed) != 1 {
		t.Fatalf("under another's claim: %v %v, filed %d (want no reply, no filing)", r, err, len(f.filed))
	}
	clock.Advance(time.Minute + time.Second)
	r, err = b.Handle(wire.OfferTopic("k-a", q.m.PacketID), q.offer)
	if err != nil {
		t.Fatal(err)
	}
	if rc := f.receipt(t, r); rc.Status != wire.ReceiptFiled || len(f.filed) != 2 {
		t.Fatalf("after the lease: %+v, filed %d", rc, len(f.filed))
	}
}

// shared is another ingest process of f on ledger st and f's state folder.
func (f *fixture) shared(t *testing.T, st store.Ledger, owner string) *Ingest {
	t.Helper()
	cfg := f.in.cfg
	cfg.Ledger, cfg.Owner, cfg.Lease = st, owner, time.Minute
	in, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// deliverTo sends the offer and every chunk to in, and returns the replies
// to the last message and its error.
func (f *fixture) deliverTo(in *Ingest, p sealedPacket) ([]Reply, error) {
	r, err := in.Handle(wire.OfferTopic(p.m.KioskID, p.m.PacketID), p.offer)
	for n := 0; n < p.m.Chunks() && err == nil; n++ {
		r, err = in.Handle(wire.ChunkTopic(p.m.KioskID, p.m.PacketID, n), p.chunk(n))
	}
	return r, err
}

// TestImportsOldReceipts: a state folder of the version before the ledger
// (receipt files) is moved into the ledger when ingest starts, so a packet
// filed then is answered with its receipt and not filed again.
func TestImportsOldReceipts(t *testing.T) {
	f := newFixture(t)
	p := f.seal(t, "k-a", "k-a", "", 1000)
	r := f.deliver(t, p, []int{0})
	if rc := f.receipt(t, r); rc.Status != wire.ReceiptFiled {
		t.Fatal(rc)
	}
	// As the old version left it: the receipt in the packet's folder, no
	// ledger.
	dir := f.in.packetDir("k-a", p.m.PacketID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "manifest"), p.offer, 0o600)
	os.WriteFile(filepath.Join(dir, "receipt"), r[0].Payload, 0o600)
	forged := f.in.packetDir("k-a", "forged")
	os.MkdirAll(forged, 0o700)
	os.WriteFile(filepath.Join(forged, "receipt"), []byte(`{"type":"receipt","body":{},"sig":"AAAA"}`), 0o600)
	f.in.Close()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(filepath.Join(f.in.cfg.StateDir, "ledger.db"+suffix))
	}
	cfg := f.in.cfg
	cfg.Ledger = nil
	in, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the old packet folder is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(forged, "receipt")); err != nil {
		t.Fatalf("a receipt not signed by the central was touched: %v", err)
	}
	again, err := in.Handle(wire.OfferTopic("k-a", p.m.PacketID), p.offer)
	if err != nil || len(again) != 1 || string(again[0].Payload) != string(r[0].Payload) || len(f.filed) != 1 {
		t.Fatalf("offer after the upgrade: %v %v, filed %d", again, err, len(f.filed))
	}
}

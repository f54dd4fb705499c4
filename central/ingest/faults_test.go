package ingest

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/einwurf/einwurf/central/store"
	"github.com/einwurf/einwurf/central/store/sqlite"
	"github.com/einwurf/einwurf/internal/testtool"
	"github.com/einwurf/einwurf/wire"
)

// offerAll sends the offer and every chunk, and returns the replies to the
// last message and its error (nil replies, no error, until complete).
func (f *fixture) offerAll(p sealedPacket) ([]Reply, error) { return f.deliverTo(f.in, p) }

// TestStorageFaultsAreRetried: a read-only inbox and a process out of file
// descriptors are the central's own trouble. The packet gets no receipt
// (above all no "rejected" one), the fault is reported, the chunks stay,
// and once the fault is gone the kiosk's next offer files it, once.
func TestStorageFaultsAreRetried(t *testing.T) {
	for _, c := range []struct {
		name  string
		fault func(t *testing.T, f *fixture, p sealedPacket) (undo func())
	}{
		{"read-only inbox", func(t *testing.T, f *fixture, _ sealedPacket) func() {
			return testtool.ReadOnly(t, f.inbox)
		}},
		{"no descriptors", func(t *testing.T, f *fixture, p sealedPacket) func() {
			// All chunks but the last are in; the last one is stored and
			// the lock taken, then there is nothing left to open.
			for n := 0; n < p.m.Chunks()-1; n++ {
				if _, err := f.in.Handle(wire.ChunkTopic(p.m.KioskID, p.m.PacketID, n), p.chunk(n)); err != nil {
					t.Fatal(err)
				}
			}
			return testtool.FewDescriptors(t, 1)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			var faults []string
			st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "central.db"), sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			raise := RaiseStorageAlarms(ctx, st, nil, nil)
			f.in.cfg.OnFault = func(kiosk, packetID string, err error) {
				if !errors.Is(err, ErrStorage) {
					t.Errorf("fault reported without ErrStorage: %v", err)
				}
				faults = append(faults, kiosk+"/"+packetID)
				raise(kiosk, packetID, err)
			}
			p := f.seal(t, "k-a", "k-a", "", 200<<10)
			if _, err := f.in.Handle(wire.OfferTopic("k-a", p.m.PacketID), p.offer); err != nil {
				t.Fatal(err)
			}
			undo := c.fault(t, f, p)
			r, err := f.in.Handle(wire.ChunkTopic("k-a", p.m.PacketID, p.m.Chunks()-1), p.chunk(p.m.Chunks()-1))
			if c.name != "no descriptors" {
				// The read-only case: deliver everything under the fault.
				r, err = f.offerAll(p)
			}
			undo()
			if len(r) != 0 || !errors.Is(err, ErrStorage) {
				t.Fatalf("under the fault: replies %v, err %v (want none and ErrStorage)", r, err)
			}
			if len(faults) == 0 || faults[0] != "k-a/"+p.m.PacketID {
				t.Fatalf("fault reports %v", faults)
			}
			// Raised on the central (after the fault, if the store shared it).
			var alarms []store.Alarm
			deadline := time.Now().Add(15 * time.Second)
			for len(alarms) == 0 && time.Now().Before(deadline) {
				alarms, err = st.Alarms(context.Background(), true)
				time.Sleep(50 * time.Millisecond)
			}
			if err != nil || len(alarms) != 1 || alarms[0].Code != AlarmStorage || alarms[0].KioskID != "k-a" ||
				!strings.Contains(alarms[0].Detail, p.m.PacketID) || strings.Contains(alarms[0].Detail, "035F") {
				t.Fatalf("alarms on the central: %+v %v", alarms, err)
			}
			if _, err := f.in.cfg.Ledger.Lookup(context.Background(), "k-a", p.m.PacketID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("a receipt was kept for a storage fault: %v", err)
			}
			// After the fault: the kiosk offers again and it is filed.
			r, err = f.in.Handle(wire.OfferTopic("k-a", p.m.PacketID), p.offer)
			if err != nil {
				t.Fatal(err)
			}
			if rc := f.receipt(t, r); rc.Status != wire.ReceiptFiled || len(f.filed) != 1 {
				t.Fatalf("after the fault: %+v, filed %d", rc, len(f.filed))
			}
		})
	}
}

// TestReplayAfterCleanup: after the documented clean-up of the ledger
// (Forget), a replayed old packet is refused, never filed twice; a packet of
// a kiosk that was offline for weeks is still filed; one dated ahead of the
// clock waits.
func TestReplayAfterCleanup(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	f.in.cfg.Now = func() time.Time { return now }
	p := f.seal(t, "k-a", "k-a", "", 1000)
	if rc := f.receipt(t, f.deliver(t, p, []int{0})); rc.Status != wire.ReceiptFiled {
		t.Fatalf("first delivery %+v", rc)
	}
	// The clean-up: ledger records older than the horizon plus the clock
	// skew are forgotten.
	if n, err := f.in.Forget(context.Background()); err != nil || n != 0 {
		t.Fatalf("Forget before the horizon: %d, %v", n, err)
	}
	now = now.Add(DefaultReplayHorizon + DefaultMaxClockSkew + time.Hour)
	if n, err := f.in.Forget(context.Background()); err != nil || n != 1 {
		t.Fatalf("Forget after the horizon: %d, %v; want 1", n, err)
	}
	r, err := f.offerAll(p)
	if err != nil {
		t.Fatal(err)
	}
	if rc := f.receipt(t, r); rc.Status != wire.ReceiptRejected || rc.Reason != "expired" || len(f.filed) != 1 {
		t.Fatalf("replay after clean-up: %+v, filed %d times", rc, len(f.filed))
	}
	// A kiosk offline for 70 days: filed.
	old := f.seal(t, "k-a", "k-a", "", 1000)
	old.m.Created = now.Add(-70 * 24 * time.Hour).UTC()
	old.offer, _ = wire.Sign(f.kioskKey, wire.TypeManifest, old.m)
	if rc := f.receipt(t, f.deliver(t, old, []int{0})); rc.Status != wire.ReceiptFiled || len(f.filed) != 2 {
		t.Fatalf("a packet 70 days old: %+v", rc)
	}
	// Dated two days ahead: no receipt, asked again later.
	ahead := f.seal(t, "k-a", "k-a", "", 1000)
	ahead.m.Created = now.Add(48 * time.Hour).UTC()
	ahead.offer, _ = wire.Sign(f.kioskKey, wire.TypeManifest, ahead.m)
	if r, err := f.in.Handle(wire.OfferTopic("k-a", ahead.m.PacketID), ahead.offer); !errors.Is(err, ErrClock) || len(r) != 0 {
		t.Fatalf("future manifest: %v %v", r, err)
	}
}

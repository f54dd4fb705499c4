package ingest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/einwurf/einwurf/wire"
)

// FuzzStoredState damages what ingest keeps in its state folder between
// messages — the stored manifest or a stored chunk, replaced by any bytes —
// and then lets the kiosk go on as it would (offers again, resends what it
// is asked for). Ingest re-reads its own state without panicking, never
// files anything but the packet's PDF, and files it exactly once.
func FuzzStoredState(f *testing.F) {
	fx := newFixture(&testing.T{})
	// In memory where there is /dev/shm: filing fsyncs, and a fuzz target
	// on a busy disk would manage a handful of executions.
	if mem, err := os.MkdirTemp("/dev/shm", "ingest-fuzz-"); err == nil {
		f.Cleanup(func() { os.RemoveAll(mem) })
		cfg := fx.in.cfg
		cfg.StateDir, cfg.InboxDir, cfg.Ledger = filepath.Join(mem, "state"), filepath.Join(mem, "inbox"), nil
		in, err := New(cfg)
		if err != nil {
			f.Fatal(err)
		}
		fx.in, fx.inbox = in, cfg.InboxDir
	}
	f.Add(uint8(0), []byte(`{"type":"manifest","body":{},"sig":""}`))
	f.Add(uint8(1), []byte{})
	f.Add(uint8(2), bytes.Repeat([]byte{0}, 32+1024))
	f.Add(uint8(0), []byte("not json"))
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		p := fx.seal(t, "k-a", "k-a", "", 150<<10)
		if p.m.Chunks() != 3 {
			t.Fatalf("%d chunks", p.m.Chunks())
		}
		offer := func() []Reply {
			r, _ := fx.in.Handle(wire.OfferTopic("k-a", p.m.PacketID), p.offer)
			return r
		}
		chunk := func(n int) []Reply {
			r, _ := fx.in.Handle(wire.ChunkTopic("k-a", p.m.PacketID, n), p.chunk(n))
			return r
		}
		offer()
		chunk(0)
		chunk(1)
		name := []string{"manifest", "chunk-0", "chunk-1"}[which%3]
		os.WriteFile(filepath.Join(fx.in.packetDir("k-a", p.m.PacketID), name), data, 0o600)
		r := chunk(2)
		var rc wire.Receipt
		for round := 0; round < 4; round++ {
			if len(r) == 1 && wire.Verify(fx.centralPK, wire.TypeReceipt, r[0].Payload, &rc) == nil {
				break
			}
			r = offer()
			var pr wire.Progress
			if len(r) == 1 && wire.Verify(fx.centralPK, wire.TypeProgress, r[0].Payload, &pr) == nil {
				for _, n := range pr.Missing {
					r = chunk(n)
				}
			}
		}
		if rc.PacketID != p.m.PacketID || rc.Status != wire.ReceiptFiled {
			t.Fatalf("after damaging the stored %s: receipt %+v (replies %d)", name, rc, len(r))
		}
		n := 0
		for _, fd := range fx.filed {
			if fd.PacketID == p.m.PacketID {
				n++
				got, err := os.ReadFile(fd.PDF)
				if err != nil || !bytes.Equal(got, p.pdf) {
					t.Fatalf("filed something else than the packet's PDF (%v)", err)
				}
			}
		}
		if n != 1 {
			t.Fatalf("filed %d times", n)
		}
	})
}

package ingest

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/einwurf/einwurf/wire"
)

// snapshot lists every file under dir with its size, so a test can see
// that a rejected message changed nothing.
func snapshot(t testing.TB, dirs ...string) string {
	var out []string
	for _, dir := range dirs {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				fi, _ := d.Info()
				out = append(out, fmt.Sprintf("%s %d", p, fi.Size()))
			} else if err == nil && p != dir {
				out = append(out, p+"/")
			}
			return nil
		})
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// FuzzHandle feeds arbitrary topics and payloads to Handle, with one packet
// offered and partly delivered. Handle must never panic, and a message it
// rejects must change nothing in the state folder or the inbox.
func FuzzHandle(f *testing.F) {
	fx := newFixture(&testing.T{})
	p := fx.seal(&testing.T{}, "k-a", "k-a", "", 200<<10)
	if _, err := fx.in.Handle(wire.OfferTopic("k-a", p.m.PacketID), p.offer); err != nil {
		f.Fatal(err)
	}
	if _, err := fx.in.Handle(wire.ChunkTopic("k-a", p.m.PacketID, 1), p.chunk(1)); err != nil {
		f.Fatal(err)
	}
	bad := p.chunk(0)
	bad[40] ^= 1
	f.Add(wire.OfferTopic("k-a", p.m.PacketID), p.offer)
	f.Add(wire.ChunkTopic("k-a", p.m.PacketID, 0), bad)
	f.Add(wire.ChunkTopic("k-a", p.m.PacketID, 99), p.chunk(2))
	f.Add(wire.ChunkTopic("k-a", "other", 0), p.chunk(0))
	f.Add(wire.OfferTopic("k-b", p.m.PacketID), p.offer)
	f.Add("einwurf/v1/k/k-a/pkt/"+p.m.PacketID+"/chunk/01", p.chunk(1))
	f.Add("einwurf/v1/k/k-a/status", []byte(`{}`))
	f.Add(wire.OfferTopic("k-a", p.m.PacketID), []byte(`{"type":"manifest","body":{},"sig":"AAAA"}`))
	stateDir, inbox := fx.in.cfg.StateDir, fx.in.cfg.InboxDir
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		before := snapshot(t, stateDir, inbox)
		_, err := fx.in.Handle(topic, payload)
		if err == nil {
			return
		}
		if after := snapshot(t, stateDir, inbox); after != before {
			t.Fatalf("rejected message (%v) changed the state:\nbefore:\n%s\nafter:\n%s", err, before, after)
		}
	})
}

// A process killed while writing a PDF leaves a temporary file in the case
// folder; the next filing of that packet removes it, so the inbox holds the
// document exactly once and no debris.
func TestStaleTempRemovedOnRefile(t *testing.T) {
	f := newFixture(t)
	p := f.seal(t, "k-a", "k-a", "", 100<<10)
	caseDir := filepath.Join(f.inbox, "placement", "035F083761")
	os.MkdirAll(caseDir, 0o750)
	base := "2026-11-27T090000Z_" + p.m.PacketID
	for _, name := range []string{tmpPrefix(base+".pdf") + "123", tmpPrefix(base+".json") + "456"} {
		os.WriteFile(filepath.Join(caseDir, name), []byte("half"), 0o600)
	}
	order := make([]int, p.m.Chunks())
	for i := range order {
		order[i] = i
	}
	if rc := f.receipt(t, f.deliver(t, p, order)); rc.Status != wire.ReceiptFiled {
		t.Fatalf("receipt %+v", rc)
	}
	des, _ := os.ReadDir(caseDir)
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	if len(names) != 2 || names[0] != base+".json" || names[1] != base+".pdf" {
		t.Fatalf("case folder holds %v", names)
	}
}

// A chunk damaged on the central's disk (chunks are stored without fsync)
// is found when the packet is filed: ingest drops it and asks the kiosk
// for it again instead of rejecting the packet; after the resend the
// packet is filed.
func TestDamagedStoredChunkAskedAgain(t *testing.T) {
	f := newFixture(t)
	p := f.seal(t, "k-a", "k-a", "", 300<<10)
	n := p.m.Chunks()
	order := make([]int, 0, n)
	for i := 0; i < n-1; i++ {
		order = append(order, i)
	}
	f.deliver(t, p, order)
	dir := f.in.packetDir("k-a", p.m.PacketID)
	if err := os.Truncate(filepath.Join(dir, "chunk-1"), 100); err != nil {
		t.Fatal(err)
	}
	r, err := f.in.Handle(wire.ChunkTopic("k-a", p.m.PacketID, n-1), p.chunk(n-1))
	if err != nil {
		t.Fatal(err)
	}
	if len(r) != 1 || r[0].Topic != wire.ProgressTopic("k-a") {
		t.Fatalf("replies %v, want progress", r)
	}
	var pr wire.Progress
	if err := wire.Verify(f.centralPK, wire.TypeProgress, r[0].Payload, &pr); err != nil {
		t.Fatal(err)
	}
	if len(pr.Missing) != 1 || pr.Missing[0] != 1 {
		t.Fatalf("missing %v, want [1]", pr.Missing)
	}
	if len(f.filed) != 0 {
		t.Fatal("filed with a damaged chunk")
	}
	r, err = f.in.Handle(wire.ChunkTopic("k-a", p.m.PacketID, 1), p.chunk(1))
	if err != nil {
		t.Fatal(err)
	}
	if rc := f.receipt(t, r); rc.Status != wire.ReceiptFiled {
		t.Fatalf("receipt %+v", rc)
	}
	got, _ := os.ReadFile(f.filed[0].PDF)
	if !bytes.Equal(got, p.pdf) {
		t.Fatal("filed PDF differs")
	}
}

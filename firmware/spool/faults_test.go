package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/einwurf/einwurf/internal/testtool"
	"github.com/einwurf/einwurf/wire"
)

// TestTooManyOpenFilesQuarantinesNothing: with the process out of file
// descriptors (a real EMFILE), listing and reopening the spool quarantine
// none of five good entries; once descriptors are back, all five are
// there. A corrupt entry beside them is still quarantined.
func TestTooManyOpenFilesQuarantinesNothing(t *testing.T) {
	dir := t.TempDir()
	var alarms []string
	s, err := Open(dir, Options{Statfs: bigFree, Alarm: func(code, detail string) { alarms = append(alarms, code) }})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1700000000, 0).UTC()
	for i := range 5 {
		put(t, s, fmt.Sprintf("good%d", i), []byte("payload"), t0.Add(time.Duration(i)*time.Second))
	}
	// One descriptor spare, and a competitor that holds it most of the
	// time: opens fail now here, now there, as on a busy kiosk.
	restore := testtool.FewDescriptors(t, 1)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if f, err := os.Open(os.DevNull); err == nil {
				time.Sleep(20 * time.Microsecond)
				f.Close()
			}
			runtime.Gosched()
		}
	}()
	partial, calls := 0, 0
	deadline := time.Now().Add(5 * time.Second)
	for partial < 3 && time.Now().Before(deadline) {
		calls++
		es, err := s.List()
		if errors.Is(err, ErrUnreadable) && len(es) < 5 {
			partial++ // the directory was read, some entries were not
		}
	}
	close(stop)
	<-done
	restore()
	t.Logf("%d List calls under descriptor exhaustion, %d with entries unreadable", calls, partial)
	if partial == 0 {
		t.Fatal("the fault never hit an entry's read: the test proves nothing")
	}
	if q, _ := os.ReadDir(filepath.Join(dir, "quarantine")); len(q) != 0 || len(alarms) != 0 {
		t.Fatalf("a fault of the file system quarantined %d files (%v)", len(q), alarms)
	}
	if es, err := s.List(); err != nil || len(es) != 5 {
		t.Fatalf("after the fault: %d entries, %v", len(es), err)
	}
	// Proven corrupt: quarantined as before.
	os.WriteFile(filepath.Join(dir, "good2.manifest"), []byte("{not json"), 0o600)
	if es, err := s.List(); err != nil || len(es) != 4 || s.Usage().Quarantined != 1 {
		t.Fatalf("corrupt entry: %d entries, %v, %d quarantined", len(es), err, s.Usage().Quarantined)
	}
}

// TestManifestChunkSizeBound: a manifest whose chunk size exceeds what the
// transfer protocol uses (and what the broker carries) does not validate.
func TestManifestChunkSizeBound(t *testing.T) {
	m := wire.Manifest{V: 1, PacketID: "p1", KioskID: "k-1", Created: time.Now(), Size: 5 << 20,
		SHA256: "00000000000000000000000000000000000000000000000000000000000000ff", ChunkSize: wire.ChunkSize}
	if err := m.Validate(); err != nil {
		t.Fatalf("the protocol's chunk size: %v", err)
	}
	m.ChunkSize = 1 << 20
	if err := m.Validate(); err == nil {
		t.Fatal("a 1 MiB chunk size validates")
	}
}

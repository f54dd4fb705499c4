package spool

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzLoad puts any bytes in a spooled manifest (with a payload of any
// size): loading never panics; an entry is either served with a manifest
// that validates, names it and matches its payload's size, or it is
// quarantined (proven corrupt) and nothing else in the spool is touched.
func FuzzLoad(f *testing.F) {
	dir := f.TempDir()
	s, err := Open(dir, Options{Statfs: bigFree})
	if err != nil {
		f.Fatal(err)
	}
	put(f, s, "seedid", []byte("payload!"), time.Unix(1700000000, 0))
	good, _ := os.ReadFile(filepath.Join(dir, "seedid.manifest"))
	f.Add(good, uint16(8))
	f.Add(good, uint16(9))
	f.Add([]byte(`{"type":"manifest","body":{"v":1},"sig":""}`), uint16(0))
	f.Add([]byte(`{"type":"manifest","body":null,"sig":null}`), uint16(1))
	f.Add([]byte(``), uint16(3))
	f.Fuzz(func(t *testing.T, manifest []byte, size uint16) {
		dir := memDir(t)
		s, err := Open(dir, Options{Statfs: bigFree})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "p1.manifest"), manifest, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "p1.age"), make([]byte, size), 0o600); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "other.txt"), []byte("x"), 0o600)
		e, err := s.Get("p1")
		switch {
		case err == nil:
			if e.Manifest.Validate() != nil || e.Manifest.PacketID != "p1" || e.Manifest.Size != int64(size) {
				t.Fatalf("served a manifest that does not fit: %+v", e.Manifest)
			}
		case !errors.Is(err, ErrCorrupt):
			t.Fatalf("Get: %v", err)
		}
		es, lerr := s.List()
		if lerr != nil {
			t.Fatalf("List: %v", lerr)
		}
		if (err == nil) != (len(es) == 1) || (err != nil) != (s.Usage().Quarantined == 1) {
			t.Fatalf("Get %v but List %d entries, %d quarantined", err, len(es), s.Usage().Quarantined)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "other.txt")); string(b) != "x" {
			t.Fatal("another file was touched")
		}
	})
}

// memDir is a temporary folder in memory where there is one (/dev/shm):
// the spool fsyncs, and a fuzz target on a busy disk would manage a few
// executions a second.
func memDir(t *testing.T) string {
	d, err := os.MkdirTemp("/dev/shm", "spool-fuzz-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

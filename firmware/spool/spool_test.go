package spool

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/einwurf/einwurf/wire"
)

var testKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))

func put(t testing.TB, s *Spool, id string, payload []byte, created time.Time) {
	t.Helper()
	p, err := s.Create()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write(payload); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(payload)
	m := wire.Manifest{V: 1, PacketID: id, KioskID: "k-1", Created: created, Size: int64(len(payload)),
		SHA256: hex.EncodeToString(sum[:]), ChunkSize: wire.ChunkSize}
	signed, err := wire.Sign(testKey, wire.TypeManifest, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Commit(m, signed); err != nil {
		t.Fatal(err)
	}
}

func bigFree(string) (int64, error) { return 1 << 40, nil }

func TestCommitListRemove(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{Statfs: bigFree})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1700000000, 0).UTC()
	put(t, s, "bbb", []byte("second"), t0.Add(time.Second))
	put(t, s, "aaa", []byte("first"), t0)
	es, err := s.List()
	if err != nil || len(es) != 2 || es[0].Manifest.PacketID != "aaa" || es[1].Manifest.PacketID != "bbb" {
		t.Fatalf("List = %+v, %v", es, err)
	}
	// Survives reopening (a restart).
	s2, err := Open(dir, Options{Statfs: bigFree})
	if err != nil {
		t.Fatal(err)
	}
	if es, _ := s2.List(); len(es) != 2 {
		t.Fatalf("after reopen: %d entries", len(es))
	}
	f, err := s2.Open("aaa")
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 10)
	n, _ := f.Read(b)
	f.Close()
	if string(b[:n]) != "first" {
		t.Fatalf("payload %q", b[:n])
	}
	if err := s2.Remove("aaa"); err != nil {
		t.Fatal(err)
	}
	if err := s2.Remove("aaa"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second remove: %v", err)
	}
	if u := s2.Usage(); u.Entries != 1 || u.Bytes != 6 || u.State != DiskOK {
		t.Fatalf("usage %+v", u)
	}
}

func TestCommitRefusesMismatch(t *testing.T) {
	s, _ := Open(t.TempDir(), Options{Statfs: bigFree})
	p, _ := s.Create()
	p.Write([]byte("abc"))
	m := wire.Manifest{V: 1, PacketID: "x", KioskID: "k", Size: 3, SHA256: hex.EncodeToString(make([]byte, 32)), ChunkSize: wire.ChunkSize}
	if err := p.Commit(m, []byte("{}")); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Commit = %v", err)
	}
	if es, _ := s.List(); len(es) != 0 {
		t.Fatal("mismatched entry listed")
	}
}

func TestRecovery(t *testing.T) {
	dir := t.TempDir()
	var alarms []string
	s, _ := Open(dir, Options{Statfs: bigFree})
	put(t, s, "good", []byte("payload"), time.Now())
	put(t, s, "short", []byte("payload"), time.Now())
	put(t, s, "garbled", []byte("payload"), time.Now())
	// A crash mid-write: a temp payload, and a payload renamed without its
	// manifest. Neither was ever confirmed to a customer.
	os.WriteFile(filepath.Join(dir, "tmp", "payload-1"), []byte("half"), 0o600)
	os.WriteFile(filepath.Join(dir, "orphan.age"), []byte("x"), 0o600)
	// Damage: a truncated payload and a garbled manifest.
	os.Truncate(filepath.Join(dir, "short.age"), 3)
	os.WriteFile(filepath.Join(dir, "garbled.manifest"), []byte("{not json"), 0o600)

	s, err := Open(dir, Options{Statfs: bigFree, Alarm: func(code, _ string) { alarms = append(alarms, code) }})
	if err != nil {
		t.Fatal(err)
	}
	es, _ := s.List()
	if len(es) != 1 || es[0].Manifest.PacketID != "good" {
		t.Fatalf("entries after recovery: %+v", es)
	}
	if len(alarms) != 2 {
		t.Fatalf("alarms %v, want two quarantines", alarms)
	}
	for _, name := range []string{"short.age", "short.manifest", "short.reason", "garbled.reason"} {
		if _, err := os.Stat(filepath.Join(dir, "quarantine", name)); err != nil {
			t.Errorf("quarantine lacks %s", name)
		}
	}
	for _, gone := range []string{"tmp/payload-1", "orphan.age"} {
		if _, err := os.Stat(filepath.Join(dir, gone)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s not cleared", gone)
		}
	}
	if u := s.Usage(); u.Quarantined != 2 {
		t.Fatalf("usage %+v", u)
	}
}

func TestDiskBudget(t *testing.T) {
	free := int64(1 << 30)
	s, _ := Open(t.TempDir(), Options{WarnFree: 500 << 20, AlarmFree: 100 << 20,
		Statfs: func(string) (int64, error) { return free, nil }})
	if u := s.Usage(); u.State != DiskOK {
		t.Fatalf("state %s", u.State)
	}
	free = 200 << 20
	if u := s.Usage(); u.State != DiskWarning {
		t.Fatalf("state %s", u.State)
	}
	free = 50 << 20
	if u := s.Usage(); u.State != DiskAlarm {
		t.Fatalf("state %s", u.State)
	}
	if _, err := s.Create(); !errors.Is(err, ErrFull) {
		t.Fatalf("Create on a full disk: %v", err)
	}

	capped, _ := Open(t.TempDir(), Options{MaxBytes: 10, Statfs: bigFree})
	p, _ := capped.Create()
	if _, err := p.Write(make([]byte, 11)); !errors.Is(err, ErrFull) {
		t.Fatalf("write over budget: %v", err)
	}
	p.Abort()
}

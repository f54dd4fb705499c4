package update

import (
	"crypto/ed25519"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/einwurf/einwurf/ota/durable/crashfs"
	"github.com/einwurf/einwurf/wire"
)

var now = time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)

func service(t testing.TB) (*Service, ed25519.PrivateKey) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	fs := crashfs.New()
	fs.MkdirAll("/u")
	return New(Config{KioskID: "k1", CentralKey: pub, SeqFile: "/u/offer-seq", FS: fs,
		Now: func() time.Time { return now }}), priv
}

func signed(t testing.TB, key ed25519.PrivateKey, o wire.UpdateOffer) []byte {
	b, err := wire.Sign(key, wire.TypeUpdateOffer, o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCheckOffer(t *testing.T) {
	s, key := service(t)
	good := wire.UpdateOffer{KioskID: "k1", Seq: 5, Expires: now.Add(time.Hour), RolloutID: "r", Target: "t", Version: "2", Kind: "bundle"}
	if _, err := s.Check(signed(t, key, good)); err != nil {
		t.Fatal(err)
	}
	_, other, _ := ed25519.GenerateKey(nil)
	for name, o := range map[string]wire.UpdateOffer{
		"other kiosk": {KioskID: "k2", Seq: 5, Expires: now.Add(time.Hour), Kind: "bundle"},
		"expired":     {KioskID: "k1", Seq: 5, Expires: now, Kind: "bundle"},
		"kind":        {KioskID: "k1", Seq: 5, Expires: now.Add(time.Hour), Kind: "firmware"},
	} {
		if _, err := s.Check(signed(t, key, o)); !errors.Is(err, ErrOffer) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := s.Check(signed(t, other, good)); !errors.Is(err, wire.ErrSignature) {
		t.Errorf("forged: %v", err)
	}
	// After accepting seq 5, a replay of it (or older) is refused.
	s.c.FS.(*crashfs.FS).MkdirAll("/u")
	if err := writeSeq(s, 5); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Check(signed(t, key, good)); !errors.Is(err, ErrOffer) {
		t.Errorf("replay: %v", err)
	}
	good.Seq = 6
	if _, err := s.Check(signed(t, key, good)); err != nil {
		t.Errorf("next: %v", err)
	}
}

func writeSeq(s *Service, n uint64) error {
	f, err := s.c.FS.OpenFile(s.c.SeqFile, os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteAt([]byte{byte('0' + n)}, 0)
	return err
}

func TestWindow(t *testing.T) {
	in, err := ParseWindow("22:30-04:00")
	if err != nil {
		t.Fatal(err)
	}
	at := func(h, m int) time.Time { return time.Date(2026, 1, 1, h, m, 0, 0, time.UTC) }
	for _, c := range []struct {
		h, m int
		want bool
	}{{22, 29, false}, {22, 30, true}, {2, 0, true}, {3, 59, true}, {4, 0, false}, {12, 0, false}} {
		if in(at(c.h, c.m)) != c.want {
			t.Errorf("%02d:%02d: %v", c.h, c.m, !c.want)
		}
	}
	for _, bad := range []string{"2-4", "02:00", "25:00-03:00"} {
		if _, err := ParseWindow(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if any, _ := ParseWindow(""); !any(at(12, 0)) {
		t.Error("empty window is not any time")
	}
}

func TestReportsQueueAndOutOfService(t *testing.T) {
	s, _ := service(t)
	s.Report(wire.UpdateReport{State: wire.UpdateDownloading, Progress: 0.1})
	s.Report(wire.UpdateReport{State: wire.UpdateDownloading, Progress: 0.2})
	s.Report(wire.UpdateReport{State: wire.UpdateWritten})
	if len(s.pending) != 2 || s.pending[0].Progress != 0.2 || s.pending[0].KioskID != "k1" {
		t.Fatalf("pending %+v", s.pending)
	}
	if s.OutOfService() {
		t.Fatal("out of service before the switch")
	}
	s.Switching(true)
	if !s.OutOfService() || string(s.MarshalState()) != `{"out_of_service":true,"phase":"written"}` {
		t.Fatalf("state %s", s.MarshalState())
	}
}

func FuzzCheck(f *testing.F) {
	s, key := service(f)
	f.Add(signed(f, key, wire.UpdateOffer{KioskID: "k1", Seq: 1, Expires: now.Add(time.Hour), Kind: "bundle"}))
	f.Add([]byte(`{"type":"update-offer","body":{},"sig":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := s.Check(b)
		if err == nil && (o.KioskID != "k1" || !now.Before(o.Expires)) {
			t.Fatalf("accepted %+v", o)
		}
	})
}

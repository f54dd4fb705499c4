package command

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/einwurf/einwurf/internal/atomicfile"
	"github.com/einwurf/einwurf/wire"
)

// rig is a Handler with recording hooks and a captured publisher.
type rig struct {
	t          *testing.T
	centralPub ed25519.PublicKey
	central    ed25519.PrivateKey
	device     ed25519.PrivateKey
	seqPath    string
	h          *Handler
	now        time.Time
	calls      []string
	published  [][]byte
}

func newRig(t *testing.T) *rig {
	r := &rig{t: t, now: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	r.centralPub, r.central, _ = ed25519.GenerateKey(nil)
	_, r.device, _ = ed25519.GenerateKey(nil)
	r.seqPath = filepath.Join(t.TempDir(), "cmd.seq")
	r.open()
	return r
}

// open (re)creates the handler from the persisted sequence, as after a
// restart of the kiosk.
func (r *rig) open() {
	win, err := OpenWindow(r.seqPath)
	if err != nil {
		r.t.Fatal(err)
	}
	rec := func(s string) { r.calls = append(r.calls, s) }
	r.h = New(Config{KioskID: "k-1", CentralKey: r.centralPub, Key: func() ed25519.PrivateKey { return r.device },
		Window: win, Now: func() time.Time { return r.now },
		Publish: func(topic string, b []byte) error {
			if topic != wire.CommandResultTopic("k-1") {
				r.t.Errorf("result on %s", topic)
			}
			r.published = append(r.published, b)
			return nil
		},
		Hooks: Hooks{
			Reboot: func(context.Context) error { rec("reboot"); return nil },
			Service: func(_ context.Context, out bool, reason string) error {
				rec("service:" + map[bool]string{true: "out:", false: "in:"}[out] + reason)
				return nil
			},
			ResendStatus: func(context.Context) error { rec("resend"); return nil },
			CheckUpdates: func(context.Context) error { rec("updates"); return nil },
			SupportBundle: func(context.Context) (wire.SupportBundle, error) {
				rec("bundle")
				return wire.SupportBundle{Counters: map[string]int64{"visits": 3}}, nil
			},
			RotateKey: func(context.Context) (ed25519.PrivateKey, error) {
				rec("rotate")
				_, k, _ := ed25519.GenerateKey(nil)
				r.device = k
				return k, nil
			},
		}})
}

func (r *rig) cmd(key ed25519.PrivateKey, c wire.Command) []byte {
	if c.KioskID == "" {
		c.KioskID = "k-1"
	}
	if c.Expires.IsZero() {
		c.Expires = r.now.Add(time.Minute)
	}
	b, err := wire.Sign(key, wire.TypeCommand, c)
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

// send handles b and checks the published result against the returned one
// and the device key it must be signed with.
func (r *rig) send(b []byte) wire.CommandResult {
	r.t.Helper()
	signer := r.device.Public().(ed25519.PublicKey)
	n := len(r.published)
	res := r.h.Handle(context.Background(), b)
	if len(r.published) != n+1 {
		r.t.Fatalf("%d results published, want 1", len(r.published)-n)
	}
	var got wire.CommandResult
	if err := wire.Verify(signer, wire.TypeCommandResult, r.published[n], &got); err != nil {
		r.t.Fatalf("result not signed by the device key: %v", err)
	}
	if got.Seq != res.Seq || got.Status != res.Status || got.Reason != res.Reason {
		r.t.Fatalf("published %+v, returned %+v", got, res)
	}
	return got
}

func (r *rig) wantRefused(res wire.CommandResult, reason string) {
	r.t.Helper()
	if res.Status != wire.ResultRefused || res.Reason != reason {
		r.t.Fatalf("result %+v, want refused %s", res, reason)
	}
}

func (r *rig) wantCalls(want ...string) {
	r.t.Helper()
	if strings.Join(r.calls, ",") != strings.Join(want, ",") {
		r.t.Fatalf("hooks called %v, want %v", r.calls, want)
	}
}

func (r *rig) wantSeq(want uint64) {
	r.t.Helper()
	if got := r.h.cfg.Window.High(); got != want {
		r.t.Fatalf("sequence %d, want %d", got, want)
	}
	s, err := OpenWindow(r.seqPath)
	if err != nil || s.High() != want {
		r.t.Fatalf("persisted sequence %v %v, want %d", s, err, want)
	}
}

func TestCommandsCarriedOut(t *testing.T) {
	r := newRig(t)
	kinds := []wire.Command{
		{Kind: wire.CmdOutOfService, Args: map[string]string{"reason": "maintenance"}},
		{Kind: wire.CmdInService},
		{Kind: wire.CmdResendStatus},
		{Kind: wire.CmdCheckUpdates},
		{Kind: wire.CmdSupportBundle},
		{Kind: wire.CmdReboot},
	}
	for i, c := range kinds {
		c.Seq = uint64(10 + i)
		res := r.send(r.cmd(r.central, c))
		if res.Status != wire.ResultDone || res.Seq != c.Seq || res.Kind != c.Kind {
			t.Fatalf("%s: %+v", c.Kind, res)
		}
		if c.Kind == wire.CmdSupportBundle {
			var b wire.SupportBundle
			if err := json.Unmarshal(res.Data, &b); err != nil || b.KioskID != "k-1" || b.Counters["visits"] != 3 {
				t.Fatalf("bundle %s: %v", res.Data, err)
			}
		}
	}
	r.wantCalls("service:out:maintenance", "service:in:", "resend", "updates", "bundle", "reboot")
	r.wantSeq(15)
}

func TestRotateKeySignedWithOldKey(t *testing.T) {
	r := newRig(t)
	old := r.device.Public().(ed25519.PublicKey)
	n := len(r.published)
	res := r.h.Handle(context.Background(), r.cmd(r.central, wire.Command{Seq: 1, Kind: wire.CmdRotateKey}))
	if res.Status != wire.ResultDone {
		t.Fatalf("%+v", res)
	}
	var got wire.CommandResult
	if err := wire.Verify(old, wire.TypeCommandResult, r.published[n], &got); err != nil {
		t.Fatalf("rotation result not signed with the old key: %v", err)
	}
	var kr wire.KeyRotation
	if err := json.Unmarshal(got.Data, &kr); err != nil || !bytes.Equal(kr.NewPub, r.device.Public().(ed25519.PublicKey)) {
		t.Fatalf("new key %x: %v", kr.NewPub, err)
	}
	if bytes.Equal(kr.NewPub, old) {
		t.Fatal("key not changed")
	}
}

func TestRefusedChangeNothing(t *testing.T) {
	r := newRig(t)
	_, foreign, _ := ed25519.GenerateKey(nil)
	first := r.cmd(r.central, wire.Command{Seq: 5, Kind: wire.CmdOutOfService, Args: map[string]string{"reason": "maintenance"}})
	if res := r.send(first); res.Status != wire.ResultDone {
		t.Fatalf("%+v", res)
	}
	r.wantCalls("service:out:maintenance")
	r.calls = nil

	// Replayed: the same message again, also after a restart.
	res := r.send(first)
	r.wantRefused(res, wire.RefusedReplayed)
	if res.Seq != 5 {
		t.Errorf("replay result seq %d", res.Seq)
	}
	r.open()
	r.wantRefused(r.send(first), wire.RefusedReplayed)

	// Reordered: seq 7 is carried out, then seq 6 arrives late: carried
	// out once (see TestReordered), not twice.
	late := r.cmd(r.central, wire.Command{Seq: 6, Kind: wire.CmdResendStatus})
	if res := r.send(r.cmd(r.central, wire.Command{Seq: 7, Kind: wire.CmdResendStatus})); res.Status != wire.ResultDone {
		t.Fatalf("%+v", res)
	}
	if res := r.send(late); res.Status != wire.ResultDone {
		t.Fatalf("late seq 6: %+v", res)
	}
	r.wantRefused(r.send(late), wire.RefusedReplayed)
	r.calls = nil

	cases := []struct {
		name, reason string
		msg          []byte
	}{
		{"expired", wire.RefusedExpired, r.cmd(r.central, wire.Command{Seq: 8, Kind: wire.CmdInService, Expires: r.now.Add(-time.Second)})},
		{"expires now", wire.RefusedExpired, r.cmd(r.central, wire.Command{Seq: 8, Kind: wire.CmdInService, Expires: r.now})},
		{"foreign-signed", wire.RefusedSignature, r.cmd(foreign, wire.Command{Seq: 8, Kind: wire.CmdInService})},
		{"device-signed", wire.RefusedSignature, r.cmd(r.device, wire.Command{Seq: 8, Kind: wire.CmdInService})},
		{"other kiosk", wire.RefusedKiosk, r.cmd(r.central, wire.Command{KioskID: "k-2", Seq: 8, Kind: wire.CmdInService})},
		{"unknown kind", wire.RefusedKind, r.cmd(r.central, wire.Command{Seq: 8, Kind: "format-disk"})},
		{"extra arg", wire.RefusedArgs, r.cmd(r.central, wire.Command{Seq: 8, Kind: wire.CmdReboot, Args: map[string]string{"x": "y"}})},
		{"free-text reason", wire.RefusedArgs, r.cmd(r.central, wire.Command{Seq: 8, Kind: wire.CmdOutOfService, Args: map[string]string{"reason": "Herr Müller ist krank"}})},
		{"no reason", wire.RefusedArgs, r.cmd(r.central, wire.Command{Seq: 8, Kind: wire.CmdOutOfService})},
		{"garbage", wire.RefusedMalformed, []byte("not json")},
		{"empty", wire.RefusedMalformed, nil},
		{"wrong type", wire.RefusedMalformed, mustSign(t, r.central, wire.TypeReceipt, wire.Command{KioskID: "k-1", Seq: 8, Kind: wire.CmdInService, Expires: r.now.Add(time.Minute)})},
		{"tampered", wire.RefusedSignature, tamper(r.cmd(r.central, wire.Command{Seq: 8, Kind: wire.CmdInService}))},
	}
	for _, c := range cases {
		res := r.send(c.msg)
		r.wantRefused(res, c.reason)
		if (c.reason == wire.RefusedSignature || c.reason == wire.RefusedMalformed) && (res.Seq != 0 || res.Kind != "") {
			t.Errorf("%s: unverified seq/kind reported: %+v", c.name, res)
		}
		r.wantCalls()
		r.wantSeq(7)
	}
	// Nothing was burnt: seq 8 still works.
	if res := r.send(r.cmd(r.central, wire.Command{Seq: 8, Kind: wire.CmdInService})); res.Status != wire.ResultDone {
		t.Fatalf("%+v", res)
	}
}

func mustSign(t *testing.T, k ed25519.PrivateKey, typ string, v any) []byte {
	b, err := wire.Sign(k, typ, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tamper changes the command's sequence inside the signed body.
func tamper(b []byte) []byte {
	var s wire.Signed
	json.Unmarshal(b, &s)
	s.Body = bytes.Replace(s.Body, []byte(`"seq":8`), []byte(`"seq":9`), 1)
	out, _ := json.Marshal(s)
	return out
}

func TestFailedHookStillConsumesSequence(t *testing.T) {
	r := newRig(t)
	r.h.cfg.Hooks.CheckUpdates = func(context.Context) error { return errors.New("updater busy with /secret/path") }
	res := r.send(r.cmd(r.central, wire.Command{Seq: 1, Kind: wire.CmdCheckUpdates}))
	if res.Status != wire.ResultFailed || res.Reason != "error" {
		t.Fatalf("%+v", res)
	}
	r.wantSeq(1)
	r.h.cfg.Hooks.CheckUpdates = nil
	res = r.send(r.cmd(r.central, wire.Command{Seq: 2, Kind: wire.CmdCheckUpdates}))
	if res.Status != wire.ResultFailed || res.Reason != "not-supported" {
		t.Fatalf("%+v", res)
	}
}

func TestSeqFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "seq")
	s, err := OpenSeq(p)
	if err != nil || s.Value() != 0 {
		t.Fatal(s, err)
	}
	for i := 1; i <= 3; i++ {
		if n, err := s.Next(); err != nil || n != uint64(i) {
			t.Fatal(n, err)
		}
	}
	s2, err := OpenSeq(p)
	if err != nil || s2.Value() != 3 {
		t.Fatal(s2, err)
	}
	if err := atomicfile.Write(p, []byte("three\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenSeq(p); err == nil {
		t.Fatal("corrupt sequence file accepted")
	}
}

func TestBirths(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	p := filepath.Join(t.TempDir(), "birth.seq")
	for want := uint64(1); want <= 2; want++ {
		seq, err := OpenSeq(p)
		if err != nil {
			t.Fatal(err)
		}
		b := &Births{KioskID: "k-1", Version: "1.2.3", Key: func() ed25519.PrivateKey { return key }, Seq: seq}
		msg, err := b.Next()
		if err != nil {
			t.Fatal(err)
		}
		var got wire.Birth
		if err := wire.Verify(pub, wire.TypeBirth, msg, &got); err != nil || got.Seq != want || got.KioskID != "k-1" {
			t.Fatalf("birth %+v %v, want seq %d", got, err, want)
		}
	}
}

func TestRedacted(t *testing.T) {
	in := `{"mqtt":{"brokers":["tls://kiosk:hunter2@broker:8883"],"password":"hunter2","client_key":"/etc/einwurf/device.key"},
	        "nested":[{"api_token":"abc123"}],"listen":"127.0.0.1:8080"}`
	out, err := Redacted([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"hunter2", "abc123"} {
		if bytes.Contains(out, []byte(secret)) {
			t.Errorf("secret %q in %s", secret, out)
		}
	}
	if !bytes.Contains(out, []byte("127.0.0.1:8080")) || !bytes.Contains(out, []byte("broker:8883")) {
		t.Errorf("too much removed: %s", out)
	}
	if _, err := Redacted([]byte("{")); err == nil {
		t.Error("bad JSON accepted")
	}
}

package monitor

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"

	"github.com/einwurf/einwurf/wire"
)

// confirmations returns the key-enrolled commands the monitor published,
// verified with the central's key.
func (f *fixture) confirmations() []wire.Command {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []wire.Command
	for _, s := range f.out {
		var c wire.Command
		if err := wire.Verify(f.central, wire.TypeCommand, s.payload, &c); err != nil {
			f.t.Fatalf("unsigned command on %s: %v", s.topic, err)
		}
		if c.Kind == wire.CmdKeyEnrolled {
			out = append(out, c)
		}
	}
	return out
}

// TestRotationConverges: the kiosk's first answer to "rotate the device
// key" is lost; its next copy (signed with the old key) enrols the new key
// and is confirmed, signed; a copy arriving after the enrolment (signed with
// the now retired key) is confirmed again without changing anything; a
// rotation not signed by the enrolled key, or one a retired key signs for
// another new key, or one answering no rotate-key command, is refused.
func TestRotationConverges(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	oldKey := f.kiosk["k-1"]
	oldPub := oldKey.Public().(ed25519.PublicKey)
	recs, err := f.m.Send(ctx, "ada", []string{"k-1"}, wire.CmdRotateKey, nil)
	must(t, err)
	newPub, newKey, _ := ed25519.GenerateKey(nil)
	data, _ := json.Marshal(wire.KeyRotation{NewPub: newPub})
	rotation := wire.CommandResult{KioskID: "k-1", Seq: recs[0].Seq, Kind: wire.CmdRotateKey, Status: wire.ResultDone, Time: f.now(), Data: data}
	announce, _ := wire.Sign(oldKey, wire.TypeCommandResult, rotation)

	// Forged first: signed by a key the central never saw proven.
	_, forger, _ := ed25519.GenerateKey(nil)
	forged, _ := wire.Sign(forger, wire.TypeCommandResult, rotation)
	if err := f.m.Handle(ctx, wire.CommandResultTopic("k-1"), forged); !errors.Is(err, ErrMessage) {
		t.Fatalf("forged rotation: %v", err)
	}
	if k, _ := f.reg.Lookup("k-1"); !k.Equal(oldPub) || len(f.confirmations()) != 0 {
		t.Fatal("a forged rotation changed the key or was confirmed")
	}

	// The first answer never arrived; the kiosk's next copy does.
	must(t, f.m.Handle(ctx, wire.CommandResultTopic("k-1"), announce))
	if k, _ := f.reg.Lookup("k-1"); !k.Equal(newPub) {
		t.Fatal("new key not enrolled from the announced rotation")
	}
	conf := f.confirmations()
	if len(conf) != 1 || conf[0].KioskID != "k-1" || conf[0].Args["pub"] != base64.StdEncoding.EncodeToString(newPub) {
		t.Fatalf("confirmations %+v", conf)
	}
	log, _ := f.st.Commands(ctx, "k-1", 5)
	if log[0].Kind != wire.CmdKeyEnrolled || log[0].By != MonitorUser || log[1].Result != wire.ResultDone || log[1].Detail != "new key enrolled" {
		t.Fatalf("audit log %+v", log)
	}

	// The confirmation was lost too: the kiosk announces again, signed
	// with its old (now retired) key; the central confirms again.
	must(t, f.m.Handle(ctx, wire.CommandResultTopic("k-1"), announce))
	if k, _ := f.reg.Lookup("k-1"); !k.Equal(newPub) || len(f.confirmations()) != 2 {
		t.Fatalf("re-announced rotation: key changed or not confirmed again (%d)", len(f.confirmations()))
	}

	// The retired key (say, stolen) signs a rotation to another key: refused.
	evilPub, _, _ := ed25519.GenerateKey(nil)
	evil := rotation
	evil.Data, _ = json.Marshal(wire.KeyRotation{NewPub: evilPub})
	b, _ := wire.Sign(oldKey, wire.TypeCommandResult, evil)
	if err := f.m.Handle(ctx, wire.CommandResultTopic("k-1"), b); !errors.Is(err, ErrMessage) {
		t.Fatalf("retired key rotating to another key: %v", err)
	}
	// The current key answers a reboot as if it were a rotation: refused.
	reboot, err := f.m.Send(ctx, "ada", []string{"k-1"}, wire.CmdReboot, nil)
	must(t, err)
	wrong := rotation
	wrong.Seq = reboot[0].Seq
	wrong.Data, _ = json.Marshal(wire.KeyRotation{NewPub: evilPub})
	if err := f.answer("k-1", newKey, wrong); !errors.Is(err, ErrMessage) {
		t.Fatalf("rotation answering a reboot: %v", err)
	}
	if k, _ := f.reg.Lookup("k-1"); !k.Equal(newPub) || len(f.confirmations()) != 2 {
		t.Fatal("a refused rotation changed the key or was confirmed")
	}

	// Operators cannot send a confirmation themselves.
	if _, err := f.m.Send(ctx, "ada", []string{"k-1"}, wire.CmdKeyEnrolled,
		map[string]string{"pub": base64.StdEncoding.EncodeToString(evilPub)}); !errors.Is(err, ErrKind) {
		t.Fatalf("operator sent key-enrolled: %v", err)
	}

	// The kiosk's answer to the confirmation, signed with its new key.
	must(t, f.answer("k-1", newKey, wire.CommandResult{Seq: conf[0].Seq, Kind: wire.CmdKeyEnrolled, Status: wire.ResultDone}))
}

package command

import (
	"os"
	"testing"

	"github.com/einwurf/einwurf/wire"
)

// TestReordered: commands overtaking each other on the way are each carried
// out once; replays stay refused, also after a restart; a number below the
// window is refused as too old; a late out-of-service does not undo a newer
// in-service.
func TestReordered(t *testing.T) {
	r := newRig(t)
	five := r.cmd(r.central, wire.Command{Seq: 5, Kind: wire.CmdResendStatus})
	four := r.cmd(r.central, wire.Command{Seq: 4, Kind: wire.CmdCheckUpdates})
	for _, m := range [][]byte{five, four} {
		if res := r.send(m); res.Status != wire.ResultDone || res.Reason != "" {
			t.Fatalf("%+v", res)
		}
	}
	r.wantCalls("resend", "updates")
	r.calls = nil
	r.wantRefused(r.send(four), wire.RefusedReplayed)
	r.wantRefused(r.send(five), wire.RefusedReplayed)
	r.wantCalls()
	r.wantSeq(5)

	// After a restart the window is the same: 4 and 5 are replays, 3 (never
	// seen, inside the window) is carried out once.
	r.open()
	r.wantRefused(r.send(four), wire.RefusedReplayed)
	r.wantRefused(r.send(five), wire.RefusedReplayed)
	three := r.cmd(r.central, wire.Command{Seq: 3, Kind: wire.CmdResendStatus})
	if res := r.send(three); res.Status != wire.ResultDone {
		t.Fatalf("%+v", res)
	}
	r.wantRefused(r.send(three), wire.RefusedReplayed)
	r.wantCalls("resend")
	r.calls = nil

	// A jump to 200: 136 lies below the window (200-136 = 64), 137 is its
	// oldest place.
	if res := r.send(r.cmd(r.central, wire.Command{Seq: 200, Kind: wire.CmdResendStatus})); res.Status != wire.ResultDone {
		t.Fatalf("%+v", res)
	}
	r.wantRefused(r.send(r.cmd(r.central, wire.Command{Seq: 136, Kind: wire.CmdResendStatus})), wire.RefusedTooOld)
	r.wantRefused(r.send(five), wire.RefusedTooOld)
	if res := r.send(r.cmd(r.central, wire.Command{Seq: 137, Kind: wire.CmdResendStatus})); res.Status != wire.ResultDone {
		t.Fatalf("137: %+v", res)
	}
	r.wantCalls("resend", "resend")
	r.calls = nil
	r.wantSeq(200)

	// In service (202) overtakes out of service (201): the late 201 is
	// answered done, superseded, and changes nothing; also after a restart.
	oos := r.cmd(r.central, wire.Command{Seq: 201, Kind: wire.CmdOutOfService, Args: map[string]string{"reason": "maintenance"}})
	if res := r.send(r.cmd(r.central, wire.Command{Seq: 202, Kind: wire.CmdInService})); res.Status != wire.ResultDone {
		t.Fatalf("%+v", res)
	}
	r.open()
	if res := r.send(oos); res.Status != wire.ResultDone || res.Reason != ReasonSuperseded {
		t.Fatalf("late out of service: %+v", res)
	}
	r.wantRefused(r.send(oos), wire.RefusedReplayed)
	r.wantCalls("service:in:")
	r.wantSeq(202)
}

func TestWindowFile(t *testing.T) {
	dir := t.TempDir()
	p := dir + "/command.seq"
	// The earlier format: one number, everything up to it carried out.
	if err := os.WriteFile(p, []byte("7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := OpenWindow(p)
	if err != nil || w.High() != 7 {
		t.Fatal(w, err)
	}
	for _, seq := range []uint64{0, 1, 5, 7} {
		if err := w.Check(seq); err == nil {
			t.Errorf("seq %d accepted after legacy 7", seq)
		}
	}
	if err := w.Check(8); err != nil {
		t.Fatal(err)
	}
	// A fresh window refuses 0 and takes 1.
	w, err = OpenWindow(dir + "/fresh")
	if err != nil || w.Check(0) == nil || w.Check(1) != nil {
		t.Fatal("fresh window", err)
	}
	if err := w.Mark(70, ""); err != nil {
		t.Fatal(err)
	}
	if err := w.Mark(70, ""); err == nil {
		t.Fatal("marked twice")
	}
	w2, err := OpenWindow(dir + "/fresh")
	if err != nil || w2.High() != 70 || w2.Check(70) == nil || w2.Check(69) != nil || w2.Check(6) == nil || w2.Check(7) != nil {
		t.Fatalf("reopened window %+v %v", w2.st, err)
	}
	for _, bad := range []string{"seven\n", `{"high":0,"seen":"1"}`, `{"high":3,"extra":1}`, `{"high":-1}`} {
		if err := os.WriteFile(p, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenWindow(p); err == nil {
			t.Errorf("corrupt window %q accepted", bad)
		}
	}
}

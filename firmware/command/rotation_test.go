package command

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/einwurf/einwurf/wire"
)

// TestRotationPendingUntilConfirmed: the answer to "rotate the device key"
// is kept (across a restart) and published again, unchanged, until the
// central's signed key-enrolled names the new key; a confirmation of
// another key ends nothing; a malformed one is refused.
func TestRotationPendingUntilConfirmed(t *testing.T) {
	r := newRig(t)
	rotPath := filepath.Join(filepath.Dir(r.seqPath), "key-rotation")
	withRotation := func() {
		p, err := OpenPending(rotPath)
		if err != nil {
			t.Fatal(err)
		}
		r.h.cfg.Rotation = p
	}
	withRotation()
	oldPub := r.device.Public().(ed25519.PublicKey)
	res := r.h.Handle(context.Background(), r.cmd(r.central, wire.Command{Seq: 1, Kind: wire.CmdRotateKey}))
	if res.Status != wire.ResultDone {
		t.Fatalf("%+v", res)
	}
	answer := r.published[len(r.published)-1]
	newPub := r.device.Public().(ed25519.PublicKey)

	// A restart keeps the pending rotation; Reannounce sends the answer
	// as it was, signed with the old key.
	r.open()
	withRotation()
	if !r.h.Reannounce() || !bytes.Equal(r.published[len(r.published)-1], answer) {
		t.Fatal("pending rotation not announced again after a restart")
	}
	if err := wire.Verify(oldPub, wire.TypeCommandResult, answer, new(wire.CommandResult)); err != nil {
		t.Fatal(err)
	}

	// A confirmation of some other key ends nothing; bad ones are refused.
	otherPub, _, _ := ed25519.GenerateKey(nil)
	enrolled := func(seq uint64, pub string) []byte {
		return r.cmd(r.central, wire.Command{Seq: seq, Kind: wire.CmdKeyEnrolled, Args: map[string]string{"pub": pub}})
	}
	if res := r.send(enrolled(2, base64.StdEncoding.EncodeToString(otherPub))); res.Status != wire.ResultDone || res.Reason != ReasonNotPending {
		t.Fatalf("%+v", res)
	}
	r.wantRefused(r.send(enrolled(3, "bm90IGEga2V5")), wire.RefusedArgs)
	r.wantRefused(r.send(r.cmd(r.central, wire.Command{Seq: 3, Kind: wire.CmdKeyEnrolled})), wire.RefusedArgs)
	if msg, _ := r.h.cfg.Rotation.Get(); msg == nil {
		t.Fatal("rotation ended by a confirmation of another key")
	}

	// The central's confirmation of the new key ends it, on disk too.
	if res := r.send(enrolled(4, base64.StdEncoding.EncodeToString(newPub))); res.Status != wire.ResultDone || res.Reason != "" {
		t.Fatalf("%+v", res)
	}
	if r.h.Reannounce() {
		t.Fatal("announced after the confirmation")
	}
	if _, err := os.Stat(rotPath); !os.IsNotExist(err) {
		t.Fatalf("pending rotation file left: %v", err)
	}
	if res := r.send(enrolled(5, base64.StdEncoding.EncodeToString(newPub))); res.Status != wire.ResultDone || res.Reason != ReasonNotPending {
		t.Fatalf("second confirmation %+v", res)
	}
}

// TestRunAnnouncesWithBackoff: Run publishes a pending rotation again by
// itself until it is confirmed.
func TestRunAnnouncesWithBackoff(t *testing.T) {
	dir := t.TempDir()
	cpub, central, _ := ed25519.GenerateKey(nil)
	_, device, _ := ed25519.GenerateKey(nil)
	win, _ := OpenWindow(filepath.Join(dir, "seq"))
	rot, _ := OpenPending(filepath.Join(dir, "rot"))
	var mu sync.Mutex
	copies := 0
	key := device
	h := New(Config{KioskID: "k-1", CentralKey: cpub, Window: win, Rotation: rot,
		Key: func() ed25519.PrivateKey { mu.Lock(); defer mu.Unlock(); return key },
		Publish: func(_ string, b []byte) error {
			mu.Lock()
			defer mu.Unlock()
			var r wire.CommandResult
			if wire.Verify(device.Public().(ed25519.PublicKey), wire.TypeCommandResult, b, &r) == nil && r.Kind == wire.CmdRotateKey {
				copies++
			}
			return nil
		},
		AnnounceMin: 5 * time.Millisecond, AnnounceMax: 20 * time.Millisecond,
		Hooks: Hooks{RotateKey: func(context.Context) (ed25519.PrivateKey, error) {
			_, k, _ := ed25519.GenerateKey(nil)
			mu.Lock()
			key = k
			mu.Unlock()
			return k, nil
		}}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	sign := func(c wire.Command) []byte {
		c.KioskID, c.Expires = "k-1", time.Now().Add(time.Minute)
		b, _ := wire.Sign(central, wire.TypeCommand, c)
		return b
	}
	h.Submit(sign(wire.Command{Seq: 1, Kind: wire.CmdRotateKey}))
	waitCopies := func(n int) {
		t.Helper()
		for end := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			mu.Lock()
			c := copies
			mu.Unlock()
			if c >= n {
				return
			}
			if time.Now().After(end) {
				t.Fatalf("%d copies of the rotation, want %d", c, n)
			}
		}
	}
	waitCopies(4) // the answer and three more
	mu.Lock()
	newPub := key.Public().(ed25519.PublicKey)
	mu.Unlock()
	h.Submit(sign(wire.Command{Seq: 2, Kind: wire.CmdKeyEnrolled, Args: map[string]string{"pub": base64.StdEncoding.EncodeToString(newPub)}}))
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if msg, _ := rot.Get(); msg == nil {
			break
		}
		if time.Now().After(end) {
			t.Fatal("confirmation not taken")
		}
	}
	if h.Reannounce() {
		t.Fatal("still announcing after the confirmation")
	}
}

// TestActivateAfterKept: with ActivateKey, the new key is activated only
// once its rotation is kept for announcing again; when it cannot be kept,
// the answer is "failed" (no new key named) and the old key stays.
func TestActivateAfterKept(t *testing.T) {
	for _, keep := range []bool{true, false} {
		r := newRig(t)
		rotPath := filepath.Join(filepath.Dir(r.seqPath), "key-rotation")
		if !keep {
			// A folder where the file would go: the write fails.
			must(t, os.MkdirAll(filepath.Join(rotPath, "x"), 0o700))
		}
		p, err := OpenPending(rotPath)
		if keep && err != nil {
			t.Fatal(err)
		}
		if p == nil {
			p = &Pending{path: rotPath}
		}
		r.h.cfg.Rotation = p
		old := r.device
		var made ed25519.PrivateKey
		var activated []string
		r.h.cfg.Hooks.RotateKey = func(context.Context) (ed25519.PrivateKey, error) {
			_, made, _ = ed25519.GenerateKey(nil)
			return made, nil
		}
		r.h.cfg.Hooks.ActivateKey = func(_ context.Context, k ed25519.PrivateKey) error {
			msg, _ := p.Get()
			activated = append(activated, map[bool]string{true: "kept", false: "not kept"}[msg != nil])
			r.device = k
			return nil
		}
		res := r.h.Handle(context.Background(), r.cmd(r.central, wire.Command{Seq: 1, Kind: wire.CmdRotateKey}))
		var got wire.CommandResult
		if err := wire.Verify(old.Public().(ed25519.PublicKey), wire.TypeCommandResult, r.published[len(r.published)-1], &got); err != nil {
			t.Fatal(err)
		}
		if keep {
			if res.Status != wire.ResultDone || len(activated) != 1 || activated[0] != "kept" || !r.device.Equal(made) {
				t.Fatalf("kept: %+v, activated %v", res, activated)
			}
			continue
		}
		if got.Status != wire.ResultFailed || got.Reason != "storage" || got.Data != nil || len(activated) != 0 || !r.device.Equal(old) {
			t.Fatalf("not kept: published %+v, activated %v", got, activated)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

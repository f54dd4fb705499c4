package ota

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/einwurf/einwurf/wire"
)

// Every refusal ends in state refused with its reason, on the old version,
// with nothing of the refused payload in the inactive slot.
func TestRefusedWithNothingWritten(t *testing.T) {
	cases := []struct {
		name, reason string
		// attack changes the released repository (or the kiosk's clock).
		attack func(w *world)
		offer  string // version the offer names (default 2.0.0)
	}{
		{"bad signature", "bad-signature", func(w *world) {
			name := fmt.Sprintf("%d.targets.json", w.repo.Targets.Signed.Version)
			w.repo.Files[name] = []byte(strings.Replace(string(w.repo.Files[name]), `"version": "2.0.0"`, `"version": "2.0.1"`, 1))
		}, ""},
		{"below threshold", "bad-signature", func(w *world) {
			// A new root signed by one root key of a threshold of two
			// (a key compromised below the threshold) that hands the
			// targets role to the attacker.
			w.repo.RevokeKeys("targets")
			w.repo.AddKey("targets")
			w.repo.Root.Signed.Version++
			w.repo.SignRoot(w.repo.Keys["root"][0])
			w.repo.Publish()
		}, ""},
		{"expired timestamp", "expired", func(w *world) { w.now = w.now.Add(25 * time.Hour) }, ""},
		{"older version", "older-version", func(w *world) {
			w.release("old.tar", makeBundle(w.t, "0.9.0", true, 600<<10), "0.9.0")
		}, "0.9.0"},
		{"mixed snapshot", "mix-and-match", func(w *world) {
			old := w.repo.Files[fmt.Sprintf("%d.snapshot.json", w.repo.Snap.Signed.Version-1)]
			w.repo.Files[fmt.Sprintf("%d.snapshot.json", w.repo.Snap.Signed.Version)] = old
		}, ""},
		{"one wrong byte", "payload-mismatch", func(w *world) {
			for p, b := range w.src.files {
				if strings.HasSuffix(p, ".v2.tar") {
					b = append([]byte(nil), b...)
					b[700] ^= 1 // in the first block, which differs from the active slot
					w.src.files[p] = b
				}
			}
		}, ""},
		{"longer than metadata", "payload-mismatch", func(w *world) {
			for p, b := range w.src.files {
				if strings.HasSuffix(p, ".v2.tar") {
					w.src.files[p] = append(append([]byte(nil), b...), "more"...)
				}
			}
		}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			// Trusted once: the kiosk has seen the repository before.
			w.release("v1.5.tar", makeBundle(t, "1.0.0", true, 1000), "1.0.0")
			u, _ := w.boot(nil)
			if err := u.c.TUF.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			w.src.files = map[string][]byte{}
			for k, v := range w.repo.TargetFiles {
				w.src.files[k] = v
			}
			w.release("v2.tar", makeBundle(t, "2.0.0", true, 600<<10), "2.0.0")
			for k, v := range w.repo.TargetFiles {
				if _, ok := w.src.files[k]; !ok {
					w.src.files[k] = v
				}
			}
			c.attack(w)
			offer, target := "2.0.0", "v2.tar"
			if c.offer != "" {
				offer, target = c.offer, "old.tar"
			}
			u, _ = w.boot(nil)
			err := u.Offer(context.Background(), wire.UpdateOffer{RolloutID: "r", Target: target, Version: offer, Kind: KindBundle})
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("Offer = %v, want refused", err)
			}
			if st := u.State(); st.Phase != wire.UpdateRefused || st.Reason != c.reason {
				t.Fatalf("state %s (%s), want refused (%s)", st.Phase, st.Reason, c.reason)
			}
			if n, err := w.fs.Size("/app/b.img"); err == nil && n != 0 {
				t.Fatalf("slot b holds %d bytes after a refusal", n)
			}
			if _, err := w.fs.ReadFile("/app/tree/b/VERSION"); err == nil {
				t.Fatal("slot b was unpacked")
			}
			env, _ := w.slots.Read()
			if env.Slot != "a" || env.Trial {
				t.Fatalf("env %+v", env)
			}
		})
	}
}

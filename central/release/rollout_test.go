package release

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/einwurf/einwurf/central/store"
	"github.com/einwurf/einwurf/central/store/sqlite"
	"github.com/einwurf/einwurf/wire"
)

type keyring map[string]ed25519.PrivateKey

func (k keyring) Lookup(id string) (ed25519.PublicKey, error) {
	p, ok := k[id]
	if !ok {
		return nil, errors.New("unknown kiosk")
	}
	return p.Public().(ed25519.PublicKey), nil
}

type published struct {
	mu     sync.Mutex
	offers map[string]wire.UpdateOffer
	acks   []string
}

func TestStagedRollout(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "central.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	repo := Repo{Dir: filepath.Join(dir, "repo"), Keys: filepath.Join(dir, "keys")}
	if err := repo.Init(3, 2); err != nil {
		t.Fatal(err)
	}
	pp := filepath.Join(dir, "b.tar")
	os.WriteFile(pp, []byte("bundle"), 0o644)
	if err := repo.Add("einwurf-2.0.0.tar", pp, "2.0.0", "bundle"); err != nil {
		t.Fatal(err)
	}
	pub, central, _ := ed25519.GenerateKey(nil)
	kiosks := keyring{}
	for i := 0; i < 10; i++ {
		id := fmt.Sprintf("k%d", i)
		_, kiosks[id], _ = ed25519.GenerateKey(nil)
		if err := st.PutKiosk(ctx, store.KioskState{KioskID: id, Site: "site-a"}); err != nil {
			t.Fatal(err)
		}
	}
	st.PutKiosk(ctx, store.KioskState{KioskID: "other", Site: "site-b"})
	p := &published{offers: map[string]wire.UpdateOffer{}}
	m := &Manager{Store: st, Repo: repo, Kiosks: kiosks, SignKey: central,
		Publish: func(_ context.Context, topic string, msg []byte, retained bool) error {
			var a wire.UpdateAck
			if err := wire.Verify(pub, wire.TypeUpdateAck, msg, &a); err == nil {
				if retained || topic != wire.UpdateOfferTopic(a.KioskID) {
					t.Errorf("ack on %s (retained %v)", topic, retained)
				}
				p.mu.Lock()
				p.acks = append(p.acks, a.KioskID+" "+a.State)
				p.mu.Unlock()
				return nil
			}
			var o wire.UpdateOffer
			if err := wire.Verify(pub, wire.TypeUpdateOffer, msg, &o); err != nil || !retained || topic != wire.UpdateOfferTopic(o.KioskID) {
				t.Errorf("offer on %s: %v", topic, err)
			}
			p.mu.Lock()
			p.offers[o.KioskID] = o
			p.mu.Unlock()
			return nil
		}}
	if err := m.Start(ctx, store.Rollout{ID: "r1", Target: "einwurf-2.0.0.tar", Group: "site-a", Percent: 50,
		Canary: []string{"k0", "k1"}, FailThreshold: 2}); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx, store.Rollout{ID: "r2", Target: "nope"}); err == nil {
		t.Fatal("rollout of an unknown target started")
	}
	if err := m.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if len(p.offers) != 2 || p.offers["k0"].Version != "2.0.0" || p.offers["k0"].Kind != "bundle" {
		t.Fatalf("canary offers %v", p.offers)
	}
	report := func(id, state, reason string, progress float64) error {
		msg, _ := wire.Sign(kiosks[id], wire.TypeUpdateReport, wire.UpdateReport{KioskID: id, RolloutID: "r1",
			Target: "einwurf-2.0.0.tar", Version: "2.0.0", State: state, Reason: reason, Progress: progress, Time: time.Now()})
		return m.HandleReport(ctx, wire.UpdateReportTopic(id), msg)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(report("k0", wire.UpdateDownloading, "", 0.5))
	must(report("k0", wire.UpdateTrial, "", 0))
	must(report("k0", wire.UpdateCommitted, "", 0))
	if strings.Join(p.acks, ",") != "k0 booted-on-trial,k0 committed" {
		t.Fatalf("acks %v", p.acks)
	}
	if len(p.offers) != 2 {
		t.Fatal("the rest was offered before every canary was through")
	}
	// A forged report (signed by another kiosk) changes nothing.
	msg, _ := wire.Sign(kiosks["k2"], wire.TypeUpdateReport, wire.UpdateReport{KioskID: "k1", RolloutID: "r1", State: wire.UpdateRolledBack})
	if err := m.HandleReport(ctx, wire.UpdateReportTopic("k1"), msg); !errors.Is(err, ErrReport) {
		t.Fatalf("forged report: %v", err)
	}
	must(report("k1", wire.UpdateCommitted, "", 0))
	// Canaries through: half of the other eight in site-a are offered.
	if len(p.offers) != 2+4 {
		t.Fatalf("%d offers after the canaries", len(p.offers))
	}
	if _, ok := p.offers["other"]; ok {
		t.Fatal("a kiosk outside the group was offered")
	}
	var wave []string
	for id := range p.offers {
		if id != "k0" && id != "k1" {
			wave = append(wave, id)
		}
	}
	must(report(wave[0], wire.UpdateRolledBack, "health:ui-not-serving", 0))
	must(report(wave[1], wire.UpdateRefused, "payload-mismatch", 0))
	r, status, err := m.Status(ctx, "r1")
	must(err)
	if r.State != RolloutHalted || !strings.Contains(r.Reason, "2 kiosks failed") {
		t.Fatalf("rollout %s (%s), want halted", r.State, r.Reason)
	}
	states, details := map[string]string{}, map[string]string{}
	for _, s := range status {
		states[s.KioskID], details[s.KioskID] = s.State, s.Detail
	}
	if details[wave[0]] != "health:ui-not-serving" {
		t.Fatalf("rolled-back detail %q", details[wave[0]])
	}
	// Halted: nothing more is offered.
	must(m.Step(ctx))
	if len(p.offers) != 6 {
		t.Fatalf("%d offers after the halt", len(p.offers))
	}
	if states["k0"] != KioskCommitted || states[wave[0]] != KioskRolledBack || states[wave[2]] != KioskOffered || len(status) != 6 {
		t.Fatalf("status %+v", status)
	}
}

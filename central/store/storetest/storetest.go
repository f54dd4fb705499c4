// Package storetest is the test suite every store.Store implementation
// passes (SQLite and PostgreSQL run the same one), and a settable clock.
//
// An implementation's test calls Run with a function that opens a fresh,
// empty store whose leases are measured by the given clock.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/einwurf/einwurf/central/store"
)

// Clock is a settable clock for leases.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock standing at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Opener opens a fresh, empty store whose leases use now.
type Opener func(t *testing.T, now func() time.Time) store.Store

// t0 is the suite's epoch.
var t0 = time.Date(2026, 11, 30, 8, 0, 0, 123456789, time.UTC)

// Run runs the whole suite against the stores open makes.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		f    func(*testing.T, store.Store, *Clock)
	}{
		{"LedgerClaimRecord", ledgerClaimRecord},
		{"LedgerLease", ledgerLease},
		{"LedgerRace", ledgerRace},
		{"LedgerForget", ledgerForget},
		{"Fleet", fleet},
		{"FleetHistory", fleetHistory},
		{"Alarms", alarms},
		{"Audit", audit},
		{"AuditSeqRace", auditSeqRace},
		{"Rollouts", rollouts},
		{"Accounts", accounts},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewClock(t0)
			s := open(t, c.Now)
			t.Cleanup(func() { s.Close() })
			tc.f(t, s, c)
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}

func ledgerClaimRecord(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	rec, err := s.Claim(ctx, "k1", "p1", "ingest-a", time.Minute)
	if err != nil || rec != nil {
		t.Fatalf("first claim = %v, %v; want nil, nil", rec, err)
	}
	_, err = s.Claim(ctx, "k1", "p1", "ingest-b", time.Minute)
	wantErr(t, err, store.ErrConflict)
	// The holder may claim again (extending the lease).
	if rec, err := s.Claim(ctx, "k1", "p1", "ingest-a", time.Minute); err != nil || rec != nil {
		t.Fatalf("renewed claim = %v, %v", rec, err)
	}
	_, err = s.Lookup(ctx, "k1", "p1")
	wantErr(t, err, store.ErrNotFound) // a claim is no record
	want := store.FiledPacket{KioskID: "k1", PacketID: "p1", Status: "filed", Receipt: []byte(`{"signed":1}`),
		ReceiptCode: "AB12CD", Team: "benefits", Pages: 3, Created: t0.Add(-time.Hour), Received: t0}
	must(t, s.Record(ctx, want))
	// Recording again keeps the first answer.
	second := want
	second.Status, second.Receipt, second.Pages = "rejected", []byte("other"), 9
	must(t, s.Record(ctx, second))
	for _, owner := range []string{"ingest-a", "ingest-b"} {
		rec, err := s.Claim(ctx, "k1", "p1", owner, time.Minute)
		if err != nil || rec == nil {
			t.Fatalf("claim of a recorded packet by %s = %v, %v; want its record", owner, rec, err)
		}
		samePacket(t, *rec, want)
	}
	got, err := s.Lookup(ctx, "k1", "p1")
	must(t, err)
	samePacket(t, got, want)
	got, err = s.LookupCode(ctx, "AB12CD")
	must(t, err)
	samePacket(t, got, want)
	_, err = s.LookupCode(ctx, "ZZZZZZ")
	wantErr(t, err, store.ErrNotFound)
	_, err = s.LookupCode(ctx, "")
	wantErr(t, err, store.ErrNotFound)
	_, err = s.Lookup(ctx, "k1", "p2")
	wantErr(t, err, store.ErrNotFound)
	// Recording without a claim works too (a rejection found at the offer).
	must(t, s.Record(ctx, store.FiledPacket{KioskID: "k2", PacketID: "p1", Status: "rejected", Received: t0}))
	if _, err := s.Lookup(ctx, "k2", "p1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Record(ctx, store.FiledPacket{KioskID: "k3", PacketID: "p1"}); err == nil {
		t.Fatal("a record without status was taken")
	}
	// Release lets another owner take the packet before the lease ends.
	if _, err := s.Claim(ctx, "k4", "p1", "ingest-a", time.Hour); err != nil {
		t.Fatal(err)
	}
	must(t, s.Release(ctx, "k4", "p1", "ingest-b")) // not b's: nothing happens
	_, err = s.Claim(ctx, "k4", "p1", "ingest-b", time.Hour)
	wantErr(t, err, store.ErrConflict)
	must(t, s.Release(ctx, "k4", "p1", "ingest-a"))
	if rec, err := s.Claim(ctx, "k4", "p1", "ingest-b", time.Hour); err != nil || rec != nil {
		t.Fatalf("claim after release = %v, %v", rec, err)
	}
	// Two packets with the same receipt code: the newest received wins.
	must(t, s.Record(ctx, store.FiledPacket{KioskID: "k5", PacketID: "p1", Status: "filed", ReceiptCode: "SAME", Received: t0}))
	must(t, s.Record(ctx, store.FiledPacket{KioskID: "k6", PacketID: "p1", Status: "filed", ReceiptCode: "SAME", Received: t0.Add(time.Second)}))
	got, err = s.LookupCode(ctx, "SAME")
	must(t, err)
	if got.KioskID != "k6" {
		t.Fatalf("LookupCode = %s, want the newest (k6)", got.KioskID)
	}
}

func samePacket(t *testing.T, got, want store.FiledPacket) {
	t.Helper()
	if !got.Created.Equal(want.Created) || !got.Received.Equal(want.Received) {
		t.Fatalf("times = %v %v, want %v %v", got.Created, got.Received, want.Created, want.Received)
	}
	got.Created, got.Received, want.Created, want.Received = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if len(got.Receipt) == 0 && len(want.Receipt) == 0 {
		got.Receipt, want.Receipt = nil, nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("record = %+v\nwant %+v", got, want)
	}
}

func ledgerLease(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	if _, err := s.Claim(ctx, "k1", "p1", "a", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	c.Advance(29 * time.Second)
	_, err := s.Claim(ctx, "k1", "p1", "b", 30*time.Second)
	wantErr(t, err, store.ErrConflict)
	c.Advance(2 * time.Second) // a's lease has run out: a died mid-filing
	if rec, err := s.Claim(ctx, "k1", "p1", "b", 30*time.Second); err != nil || rec != nil {
		t.Fatalf("take-over of an expired lease = %v, %v", rec, err)
	}
	// a comes back: b holds it now.
	_, err = s.Claim(ctx, "k1", "p1", "a", 30*time.Second)
	wantErr(t, err, store.ErrConflict)
	must(t, s.Record(ctx, store.FiledPacket{KioskID: "k1", PacketID: "p1", Status: "filed", Received: c.Now()}))
	// A recorded packet is never claimable again, whatever the clock says.
	c.Advance(24 * time.Hour)
	rec, err := s.Claim(ctx, "k1", "p1", "a", time.Minute)
	if err != nil || rec == nil || rec.Status != "filed" {
		t.Fatalf("claim after record = %v, %v", rec, err)
	}
}

// ledgerRace claims many packets from many goroutines as several owners:
// each packet is won by exactly one owner.
func ledgerRace(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	const packets, owners = 20, 4
	wins := make([]int, packets)
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, packets*owners)
	for o := 0; o < owners; o++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := 0; p < packets; p++ {
				rec, err := s.Claim(ctx, "k1", fmt.Sprintf("p%d", p), fmt.Sprintf("owner-%d", o), time.Minute)
				switch {
				case errors.Is(err, store.ErrConflict):
				case err != nil:
					errs <- err
				case rec == nil:
					mu.Lock()
					wins[p]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for p, n := range wins {
		if n != 1 {
			t.Errorf("packet %d claimed by %d owners, want exactly 1", p, n)
		}
	}
}

func ledgerForget(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		must(t, s.Record(ctx, store.FiledPacket{KioskID: "k1", PacketID: fmt.Sprintf("p%d", i), Status: "filed",
			Received: t0.Add(time.Duration(i) * time.Hour)}))
	}
	if _, err := s.Claim(ctx, "k1", "claimed", "a", time.Minute); err != nil {
		t.Fatal(err)
	}
	n, err := s.Forget(ctx, t0.Add(2*time.Hour))
	must(t, err)
	if n != 2 {
		t.Fatalf("Forget removed %d, want 2", n)
	}
	_, err = s.Lookup(ctx, "k1", "p1")
	wantErr(t, err, store.ErrNotFound)
	if _, err := s.Lookup(ctx, "k1", "p2"); err != nil {
		t.Fatal(err)
	}
	_, err = s.Claim(ctx, "k1", "claimed", "b", time.Minute)
	wantErr(t, err, store.ErrConflict) // the claim was kept
}

func fleet(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	_, err := s.Kiosk(ctx, "nope")
	wantErr(t, err, store.ErrNotFound)
	a := store.KioskState{KioskID: "k-b", Site: "nord", Name: "Eingang", Online: true, LastSeen: t0, BirthSeq: 1 << 40,
		Version: "1.2.3", Slot: "a", Rollout: "offered", RolloutDetail: "r1", Telemetry: []byte(`{"kiosk_id":"k-b"}`), Updated: t0}
	must(t, s.PutKiosk(ctx, a))
	must(t, s.PutKiosks(ctx, []store.KioskState{
		{KioskID: "k-a", Site: "nord", Updated: t0},
		{KioskID: "k-c", Site: "mitte", Updated: t0},
	}))
	got, err := s.Kiosk(ctx, "k-b")
	must(t, err)
	sameKiosk(t, got, a)
	a.Online, a.Version, a.Telemetry = false, "1.2.4", nil
	must(t, s.PutKiosk(ctx, a))
	got, err = s.Kiosk(ctx, "k-b")
	must(t, err)
	sameKiosk(t, got, a)
	all, err := s.Kiosks(ctx, "")
	must(t, err)
	if ids := kioskIDs(all); !reflect.DeepEqual(ids, []string{"k-c", "k-a", "k-b"}) {
		t.Fatalf("Kiosks = %v, want ordered by site then id", ids)
	}
	nord, err := s.Kiosks(ctx, "nord")
	must(t, err)
	if ids := kioskIDs(nord); !reflect.DeepEqual(ids, []string{"k-a", "k-b"}) {
		t.Fatalf("Kiosks(nord) = %v", ids)
	}
	none, err := s.Kiosks(ctx, "süd")
	must(t, err)
	if len(none) != 0 {
		t.Fatalf("Kiosks(süd) = %v", none)
	}
	if err := s.PutKiosk(ctx, store.KioskState{}); err == nil {
		t.Fatal("a kiosk without id was stored")
	}
	// A batch with a bad kiosk stores nothing of the batch.
	if err := s.PutKiosks(ctx, []store.KioskState{{KioskID: "k-d"}, {}}); err == nil {
		t.Fatal("a batch with a kiosk without id was stored")
	}
	_, err = s.Kiosk(ctx, "k-d")
	wantErr(t, err, store.ErrNotFound)
}

func kioskIDs(ks []store.KioskState) []string {
	ids := []string{}
	for _, k := range ks {
		ids = append(ids, k.KioskID)
	}
	return ids
}

func sameKiosk(t *testing.T, got, want store.KioskState) {
	t.Helper()
	if !got.LastSeen.Equal(want.LastSeen) || !got.Updated.Equal(want.Updated) {
		t.Fatalf("times = %v %v, want %v %v", got.LastSeen, got.Updated, want.LastSeen, want.Updated)
	}
	got.LastSeen, got.Updated, want.LastSeen, want.Updated = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if len(got.Telemetry) == 0 && len(want.Telemetry) == 0 {
		got.Telemetry, want.Telemetry = nil, nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("kiosk = %+v\nwant %+v", got, want)
	}
}

func fleetHistory(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	var pts []store.Sample
	for i := 0; i < 5; i++ {
		pts = append(pts, store.Sample{KioskID: "k1", Metric: "backlog", Time: t0.Add(time.Duration(i) * time.Minute), Value: float64(i) + 0.5})
	}
	pts = append(pts, store.Sample{KioskID: "k1", Metric: "temp", Time: t0, Value: 41.5},
		store.Sample{KioskID: "k2", Metric: "backlog", Time: t0, Value: 7})
	must(t, s.AddSamples(ctx, pts))
	must(t, s.AddSamples(ctx, nil))
	got, err := s.Samples(ctx, "k1", "backlog", t0.Add(2*time.Minute))
	must(t, err)
	if len(got) != 3 || got[0].Value != 2.5 || !got[0].Time.Equal(t0.Add(2*time.Minute)) || got[2].Value != 4.5 {
		t.Fatalf("Samples = %+v", got)
	}
	for i := 0; i < 4; i++ {
		sev := "info"
		if i == 2 {
			sev = "alarm"
		}
		must(t, s.AddEvent(ctx, "k1", t0.Add(time.Duration(i)*time.Second), fmt.Sprintf("code.%d", i), sev, []byte(fmt.Sprintf(`{"n":%d}`, i))))
	}
	must(t, s.AddEvent(ctx, "k2", t0, "other", "info", nil))
	ev, err := s.Events(ctx, "k1", 3)
	must(t, err)
	if len(ev) != 3 || ev[0].Code != "code.3" || ev[1].Severity != "alarm" || string(ev[2].Event) != `{"n":1}` || !ev[0].Time.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("Events = %+v", ev)
	}
	if ev, _ := s.Events(ctx, "k1", 0); len(ev) != 0 {
		t.Fatalf("Events(limit 0) = %v", ev)
	}
	must(t, s.Prune(ctx, t0.Add(2*time.Minute)))
	got, err = s.Samples(ctx, "k1", "backlog", time.Time{})
	must(t, err)
	if len(got) != 3 {
		t.Fatalf("after Prune %d samples, want 3", len(got))
	}
	ev, err = s.Events(ctx, "k1", 10)
	must(t, err)
	if len(ev) != 0 {
		t.Fatalf("after Prune %d events, want 0", len(ev))
	}
}

func alarms(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	a1, err := s.RaiseAlarm(ctx, store.Alarm{KioskID: "k1", Code: "disk.full", Severity: "alarm", Detail: "3% free", LastSeen: t0})
	must(t, err)
	if a1.ID == 0 || a1.Count != 1 || !a1.FirstSeen.Equal(t0) || !a1.LastSeen.Equal(t0) || !a1.Cleared.IsZero() {
		t.Fatalf("raised = %+v", a1)
	}
	again, err := s.RaiseAlarm(ctx, store.Alarm{KioskID: "k1", Code: "disk.full", Severity: "alarm", Detail: "1% free", LastSeen: t0.Add(time.Minute)})
	must(t, err)
	if again.ID != a1.ID || again.Count != 2 || !again.FirstSeen.Equal(t0) || !again.LastSeen.Equal(t0.Add(time.Minute)) || again.Detail != "1% free" {
		t.Fatalf("raised again = %+v, want the same alarm bumped", again)
	}
	a2, err := s.RaiseAlarm(ctx, store.Alarm{KioskID: "k2", Code: "tamper", Severity: "alarm", LastSeen: t0})
	must(t, err)
	must(t, s.AckAlarm(ctx, a1.ID, "hausmeister", t0.Add(2*time.Minute)))
	must(t, s.ClearAlarm(ctx, a2.ID, t0.Add(3*time.Minute)))
	must(t, s.ClearAlarm(ctx, a2.ID, t0.Add(4*time.Minute))) // again: nothing changes
	wantErr(t, s.AckAlarm(ctx, 999999, "x", t0), store.ErrNotFound)
	wantErr(t, s.ClearAlarm(ctx, 999999, t0), store.ErrNotFound)
	open, err := s.Alarms(ctx, true)
	must(t, err)
	if len(open) != 1 || open[0].ID != a1.ID || open[0].AckedBy != "hausmeister" || !open[0].AckedAt.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("open alarms = %+v", open)
	}
	// Raised after clearing: a new alarm.
	a3, err := s.RaiseAlarm(ctx, store.Alarm{KioskID: "k2", Code: "tamper", Severity: "alarm", LastSeen: t0.Add(5 * time.Minute)})
	must(t, err)
	if a3.ID == a2.ID || a3.Count != 1 {
		t.Fatalf("raised after clear = %+v", a3)
	}
	all, err := s.Alarms(ctx, false)
	must(t, err)
	if len(all) != 3 || !all[2].Cleared.Equal(t0.Add(3*time.Minute)) || all[2].ID != a2.ID || all[0].ID != a3.ID {
		t.Fatalf("all alarms = %+v, want open first (newest first), then cleared", all)
	}
	if _, err := s.RaiseAlarm(ctx, store.Alarm{KioskID: "k1"}); err == nil {
		t.Fatal("an alarm without code was raised")
	}
}

func audit(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	for want := uint64(1); want <= 3; want++ {
		n, err := s.NextSeq(ctx, "k1")
		must(t, err)
		if n != want {
			t.Fatalf("NextSeq = %d, want %d", n, want)
		}
	}
	if n, _ := s.NextSeq(ctx, "k2"); n != 1 {
		t.Fatalf("NextSeq(k2) = %d, want 1 (per kiosk)", n)
	}
	id1, err := s.AddCommand(ctx, store.CommandRecord{KioskID: "k1", Seq: 1, Kind: "reboot", By: "admin", Sent: t0})
	must(t, err)
	id2, err := s.AddCommand(ctx, store.CommandRecord{KioskID: "k1", Seq: 2, Kind: "out-of-service",
		Args: map[string]string{"reason": "maintenance"}, By: "admin", Sent: t0.Add(time.Second)})
	must(t, err)
	_, err = s.AddCommand(ctx, store.CommandRecord{KioskID: "k2", Seq: 1, Kind: "reboot", By: "op", Sent: t0})
	must(t, err)
	if id2 <= id1 {
		t.Fatalf("ids %d, %d not growing", id1, id2)
	}
	must(t, s.SetResult(ctx, "k1", 2, "done", "", t0.Add(2*time.Second)))
	wantErr(t, s.SetResult(ctx, "k1", 99, "done", "", t0), store.ErrNotFound)
	cs, err := s.Commands(ctx, "k1", 10)
	must(t, err)
	if len(cs) != 2 || cs[0].ID != id2 || cs[0].Result != "done" || !cs[0].Answered.Equal(t0.Add(2*time.Second)) ||
		cs[0].Args["reason"] != "maintenance" || cs[1].Result != "" || cs[1].Seq != 1 || !cs[1].Sent.Equal(t0) {
		t.Fatalf("Commands(k1) = %+v", cs)
	}
	all, err := s.Commands(ctx, "", 2)
	must(t, err)
	if len(all) != 2 || all[0].KioskID != "k2" {
		t.Fatalf("Commands(all, 2) = %+v", all)
	}
}

// auditSeqRace draws sequence numbers from several goroutines: all differ.
func auditSeqRace(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	const workers, each = 4, 10
	seen := map[uint64]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var failed error
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				n, err := s.NextSeq(ctx, "k1")
				mu.Lock()
				if err != nil {
					failed = err
				} else if seen[n] {
					failed = fmt.Errorf("sequence %d handed out twice", n)
				}
				seen[n] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	must(t, failed)
	if len(seen) != workers*each || !seen[workers*each] {
		t.Fatalf("%d distinct sequence numbers, want 1..%d", len(seen), workers*each)
	}
}

func rollouts(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	_, err := s.Rollout(ctx, "r0")
	wantErr(t, err, store.ErrNotFound)
	r := store.Rollout{ID: "r1", Target: "einwurf-1.3.0.raucb", Version: "1.3.0", Group: "nord", Percent: 10,
		Canary: []string{"k1", "k2"}, State: "running", FailThreshold: 2, Created: t0}
	must(t, s.PutRollout(ctx, r))
	must(t, s.PutRollout(ctx, store.Rollout{ID: "r2", Target: "t", State: "done", Created: t0.Add(time.Hour)}))
	got, err := s.Rollout(ctx, "r1")
	must(t, err)
	if !got.Created.Equal(t0) {
		t.Fatalf("created = %v", got.Created)
	}
	got.Created = r.Created
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("rollout = %+v\nwant %+v", got, r)
	}
	r.State, r.Reason, r.Percent = "halted", "2 rolled back", 50
	must(t, s.PutRollout(ctx, r))
	all, err := s.Rollouts(ctx)
	must(t, err)
	if len(all) != 2 || all[0].ID != "r2" || all[1].State != "halted" || all[1].Reason != "2 rolled back" {
		t.Fatalf("Rollouts = %+v", all)
	}
	must(t, s.SetRolloutKiosk(ctx, "r1", "k1", "offered", "", t0))
	must(t, s.SetRolloutKiosk(ctx, "r1", "k2", "downloading", "0.5", t0))
	must(t, s.SetRolloutKiosk(ctx, "r1", "k1", "committed", "", t0.Add(time.Minute)))
	must(t, s.SetRolloutKiosk(ctx, "r2", "k1", "offered", "", t0))
	ks, err := s.RolloutKiosks(ctx, "r1")
	must(t, err)
	if !reflect.DeepEqual(ks, map[string]string{"k1": "committed", "k2": "downloading"}) {
		t.Fatalf("RolloutKiosks = %v", ks)
	}
	if err := s.PutRollout(ctx, store.Rollout{}); err == nil {
		t.Fatal("a rollout without id was stored")
	}
}

func accounts(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	_, err := s.Account(ctx, "nobody")
	wantErr(t, err, store.ErrNotFound)
	a := store.Account{Login: "zoe", Hash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", Role: "admin", Created: t0}
	must(t, s.PutAccount(ctx, a))
	must(t, s.PutAccount(ctx, store.Account{Login: "anna", Hash: "h", Role: "viewer", Created: t0}))
	got, err := s.Account(ctx, "zoe")
	must(t, err)
	if got.Hash != a.Hash || got.Role != "admin" || !got.Created.Equal(t0) {
		t.Fatalf("account = %+v", got)
	}
	a.Role = "operator"
	must(t, s.PutAccount(ctx, a))
	all, err := s.Accounts(ctx)
	must(t, err)
	if len(all) != 2 || all[0].Login != "anna" || all[1].Role != "operator" {
		t.Fatalf("Accounts = %+v", all)
	}
	must(t, s.PutSession(ctx, "tok1", "zoe", t0.Add(time.Hour)))
	must(t, s.PutSession(ctx, "tok2", "zoe", t0.Add(time.Hour)))
	must(t, s.PutSession(ctx, "tok3", "anna", t0.Add(time.Hour)))
	if l, err := s.Session(ctx, "tok1", t0); err != nil || l != "zoe" {
		t.Fatalf("Session = %q, %v", l, err)
	}
	_, err = s.Session(ctx, "tok1", t0.Add(time.Hour)) // expired at that instant
	wantErr(t, err, store.ErrNotFound)
	must(t, s.DeleteSession(ctx, "tok1"))
	_, err = s.Session(ctx, "tok1", t0)
	wantErr(t, err, store.ErrNotFound)
	must(t, s.DeleteSession(ctx, "never"))
	must(t, s.DeleteAccount(ctx, "zoe"))
	_, err = s.Session(ctx, "tok2", t0)
	wantErr(t, err, store.ErrNotFound) // the account's sessions went with it
	if l, err := s.Session(ctx, "tok3", t0); err != nil || l != "anna" {
		t.Fatalf("other account's session = %q, %v", l, err)
	}
	wantErr(t, s.DeleteAccount(ctx, "zoe"), store.ErrNotFound)
	if err := s.PutAccount(ctx, store.Account{}); err == nil {
		t.Fatal("an account without login was stored")
	}
}

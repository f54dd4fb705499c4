package monitor

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/einwurf/einwurf/central/store"
	"github.com/einwurf/einwurf/central/store/sqlite"
	"github.com/einwurf/einwurf/wire"
)

// register is an in-memory KeyRegister.
type register struct {
	mu      sync.Mutex
	keys    map[string]ed25519.PublicKey
	retired map[string][]ed25519.PublicKey
}

func (r *register) Lookup(id string) (ed25519.PublicKey, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k, ok := r.keys[id]
	if !ok {
		return nil, errors.New("not enrolled")
	}
	return k, nil
}

func (r *register) Enrol(id string, pub ed25519.PublicKey) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.keys[id]; ok {
		if r.retired == nil {
			r.retired = map[string][]ed25519.PublicKey{}
		}
		r.retired[id] = append([]ed25519.PublicKey{old}, r.retired[id]...)
	}
	r.keys[id] = pub
	return nil
}

// Keys is the current key, then the retired ones (as central/keys).
func (r *register) Keys(id string) ([]ed25519.PublicKey, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k, ok := r.keys[id]
	if !ok {
		return nil, errors.New("not enrolled")
	}
	return append([]ed25519.PublicKey{k}, r.retired[id]...), nil
}

type sent struct {
	topic   string
	payload []byte
}

// fixture is a Monitor on a fresh SQLite store with two enrolled kiosks
// and a publisher that records what it sends.
type fixture struct {
	t       testing.TB
	m       *Monitor
	st      store.Store
	reg     *register
	central ed25519.PublicKey
	kiosk   map[string]ed25519.PrivateKey
	clock   time.Time
	mu      sync.Mutex
	out     []sent
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "c.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{t: t, st: st, reg: &register{keys: map[string]ed25519.PublicKey{}}, kiosk: map[string]ed25519.PrivateKey{},
		clock: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	for _, id := range []string{"k-1", "k-2"} {
		pub, priv, _ := ed25519.GenerateKey(nil)
		f.kiosk[id] = priv
		f.reg.keys[id] = pub
	}
	pub, sign, _ := ed25519.GenerateKey(nil)
	f.central = pub
	f.m, err = New(Config{Store: st, Kiosks: f.reg, SignKey: sign, Now: f.now,
		Publish: func(_ context.Context, topic string, payload []byte, _ bool) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.out = append(f.out, sent{topic, payload})
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.clock
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	f.clock = f.clock.Add(d)
	f.mu.Unlock()
}

func (f *fixture) handle(topic string, v any) error {
	f.t.Helper()
	b, ok := v.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(v); err != nil {
			f.t.Fatal(err)
		}
	}
	return f.m.Handle(context.Background(), topic, b)
}

func (f *fixture) signed(id, typ string, v any) []byte {
	b, err := wire.Sign(f.kiosk[id], typ, v)
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

func (f *fixture) state(id string) store.KioskState {
	f.t.Helper()
	k, err := f.st.Kiosk(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return k
}

func (f *fixture) openAlarms() []store.Alarm {
	f.t.Helper()
	as, err := f.st.Alarms(context.Background(), true)
	if err != nil {
		f.t.Fatal(err)
	}
	return as
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestPresenceFromBirthAndWill(t *testing.T) {
	f := newFixture(t)
	must(t, f.handle(wire.BirthTopic("k-1"), f.signed("k-1", wire.TypeBirth, wire.Birth{KioskID: "k-1", Seq: 4, Version: "1.2.0", Slot: "a", Site: "jc-mitte"})))
	k := f.state("k-1")
	if !k.Online || k.BirthSeq != 4 || k.Version != "1.2.0" || k.Slot != "a" || k.Site != "jc-mitte" {
		t.Fatalf("after birth: %+v", k)
	}
	// The last will: offline, with an alarm.
	f.advance(time.Minute)
	must(t, f.handle(wire.StatusTopic("k-1"), wire.Status{KioskID: "k-1", Online: false}))
	if k := f.state("k-1"); k.Online || !k.LastSeen.Equal(f.now()) {
		t.Fatalf("after will: %+v", k)
	}
	as := f.openAlarms()
	if len(as) != 1 || as[0].Code != AlarmOffline || as[0].KioskID != "k-1" {
		t.Fatalf("alarms %+v", as)
	}
	// A stale birth (a central restart replays the retained one) changes nothing.
	if err := f.handle(wire.BirthTopic("k-1"), f.signed("k-1", wire.TypeBirth, wire.Birth{KioskID: "k-1", Seq: 4, Version: "1.2.0"})); !errors.Is(err, ErrStaleMsg) {
		t.Fatalf("stale birth: %v", err)
	}
	if k := f.state("k-1"); k.Online {
		t.Fatal("stale birth brought the kiosk online")
	}
	// The next connection: a newer birth, the alarm clears.
	f.advance(time.Minute)
	must(t, f.handle(wire.BirthTopic("k-1"), f.signed("k-1", wire.TypeBirth, wire.Birth{KioskID: "k-1", Seq: 5, Version: "1.3.0", Slot: "b"})))
	if k := f.state("k-1"); !k.Online || k.BirthSeq != 5 || k.Version != "1.3.0" || k.Site != "jc-mitte" {
		t.Fatalf("after rebirth: %+v", k)
	}
	if as := f.openAlarms(); len(as) != 0 {
		t.Fatalf("offline alarm not cleared: %+v", as)
	}
	// A restarted central (new monitor, same store) keeps the truth.
	m2, err := New(f.m.cfg)
	must(t, err)
	if err := m2.Handle(context.Background(), wire.BirthTopic("k-1"), f.signed("k-1", wire.TypeBirth, wire.Birth{KioskID: "k-1", Seq: 5})); !errors.Is(err, ErrStaleMsg) {
		t.Fatalf("replayed birth after restart: %v", err)
	}
}

func TestDropped(t *testing.T) {
	f := newFixture(t)
	_, foreign, _ := ed25519.GenerateKey(nil)
	forged, _ := wire.Sign(foreign, wire.TypeBirth, wire.Birth{KioskID: "k-1", Seq: 9})
	cases := []struct {
		name  string
		topic string
		msg   any
		want  error
	}{
		{"unenrolled", wire.StatusTopic("k-9"), wire.Status{KioskID: "k-9", Online: true}, ErrUnknown},
		{"other kiosk's status", wire.StatusTopic("k-1"), wire.Status{KioskID: "k-2", Online: true}, ErrMessage},
		{"forged birth", wire.BirthTopic("k-1"), forged, ErrMessage},
		{"birth signed by k-2", wire.BirthTopic("k-1"), f.signed("k-2", wire.TypeBirth, wire.Birth{KioskID: "k-1", Seq: 9}), ErrMessage},
		{"garbage", wire.TelemetryTopic("k-1"), []byte("{"), ErrMessage},
		{"not a kiosk topic", "einwurf/v1/c/k-1/cmd", wire.Status{}, ErrTopic},
		{"deep topic", "einwurf/v1/k/k-1/status/x", wire.Status{}, ErrTopic},
		{"unknown leaf", "einwurf/v1/k/k-1/whatever", wire.Status{KioskID: "k-1"}, ErrTopic},
	}
	for _, c := range cases {
		if err := f.handle(c.topic, c.msg); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if ks, _ := f.st.Kiosks(context.Background(), ""); len(ks) != 0 {
		t.Fatalf("dropped messages changed the fleet: %+v", ks)
	}
}

func TestTelemetryEventsAlarms(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		must(t, f.handle(wire.TelemetryTopic("k-2"), wire.Telemetry{KioskID: "k-2", SpoolEntries: i, Sent: int64(10 * i), Pages: int64(40 * i),
			TempMilliC: 41000 + 500*i, DiskState: "ok", DiskFree: 8 << 30}))
		f.advance(20 * time.Minute)
	}
	ss, err := f.st.Samples(ctx, "k-2", MetricTemperature, f.now().Add(-24*time.Hour))
	must(t, err)
	if len(ss) != 3 || ss[2].Value != 42 {
		t.Fatalf("temperature samples %+v", ss)
	}
	if !f.state("k-2").Online {
		t.Fatal("telemetry did not mark the kiosk online")
	}
	must(t, f.handle(wire.EventTopic("k-2"), wire.Event{KioskID: "k-2", Time: f.now(), Severity: wire.SeverityAlarm, Code: "disk.full", Detail: "spool full"}))
	must(t, f.handle(wire.EventTopic("k-2"), wire.Event{KioskID: "k-2", Time: f.now(), Severity: wire.SeverityAlarm, Code: "disk.full", Detail: "spool full"}))
	must(t, f.handle(wire.EventTopic("k-2"), wire.Event{KioskID: "k-2", Time: f.now(), Severity: wire.SeverityAlarm, Code: "tamper"}))
	as := f.openAlarms()
	if len(as) != 2 {
		t.Fatalf("alarms %+v", as)
	}
	for _, a := range as {
		if a.Code == "disk.full" && a.Count != 2 {
			t.Fatalf("repeat not counted: %+v", a)
		}
	}
	must(t, f.handle(wire.EventTopic("k-2"), wire.Event{KioskID: "k-2", Time: f.now(), Severity: wire.SeverityInfo, Code: "disk.ok"}))
	as = f.openAlarms()
	if len(as) != 1 || as[0].Code != "tamper" {
		t.Fatalf("disk.ok did not clear disk.full only: %+v", as)
	}
	evs, err := f.st.Events(ctx, "k-2", 10)
	must(t, err)
	if len(evs) != 4 || evs[0].Code != "disk.ok" {
		t.Fatalf("events %+v", evs)
	}
}

// kioskResult is what a kiosk would answer.
func (f *fixture) answer(id string, key ed25519.PrivateKey, r wire.CommandResult) error {
	r.KioskID = id
	r.Time = f.now()
	b, err := wire.Sign(key, wire.TypeCommandResult, r)
	must(f.t, err)
	return f.m.Handle(context.Background(), wire.CommandResultTopic(id), b)
}

func TestCommandsSignedAndAudited(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	recs, err := f.m.Send(ctx, "ada", []string{"k-1", "k-2"}, wire.CmdOutOfService, map[string]string{"reason": "maintenance"})
	must(t, err)
	if len(recs) != 2 || len(f.out) != 2 {
		t.Fatalf("%d records, %d published", len(recs), len(f.out))
	}
	for i, s := range f.out {
		id := []string{"k-1", "k-2"}[i]
		if s.topic != wire.CommandTopic(id) {
			t.Fatalf("topic %s", s.topic)
		}
		var c wire.Command
		must(t, wire.Verify(f.central, wire.TypeCommand, s.payload, &c))
		if c.KioskID != id || c.Seq == 0 || c.Kind != wire.CmdOutOfService || c.Args["reason"] != "maintenance" ||
			!c.Expires.After(f.now()) || c.Expires.After(f.now().Add(time.Hour)) {
			t.Fatalf("command %+v", c)
		}
	}
	// A second command to k-1 has a higher sequence.
	more, err := f.m.Send(ctx, "ada", []string{"k-1"}, wire.CmdResendStatus, nil)
	must(t, err)
	if more[0].Seq <= recs[0].Seq {
		t.Fatalf("sequence %d after %d", more[0].Seq, recs[0].Seq)
	}
	for _, bad := range []struct {
		kind string
		args map[string]string
	}{{"format-disk", nil}, {wire.CmdOutOfService, map[string]string{"reason": "Free text"}}, {wire.CmdReboot, map[string]string{"x": "y"}}} {
		if _, err := f.m.Send(ctx, "ada", []string{"k-1"}, bad.kind, bad.args); err == nil {
			t.Errorf("%s %v sent", bad.kind, bad.args)
		}
	}
	if _, err := f.m.Send(ctx, "ada", []string{"k-9"}, wire.CmdReboot, nil); !errors.Is(err, ErrUnknown) {
		t.Errorf("unenrolled kiosk: %v", err)
	}

	// The answers: done from k-1; k-2 refuses; a replayed refusal does not
	// overwrite k-1's answer; a foreign-signed answer is dropped.
	must(t, f.answer("k-1", f.kiosk["k-1"], wire.CommandResult{Seq: recs[0].Seq, Kind: wire.CmdOutOfService, Status: wire.ResultDone}))
	must(t, f.answer("k-2", f.kiosk["k-2"], wire.CommandResult{Seq: recs[1].Seq, Kind: wire.CmdOutOfService, Status: wire.ResultRefused, Reason: wire.RefusedExpired}))
	if err := f.answer("k-1", f.kiosk["k-1"], wire.CommandResult{Seq: recs[0].Seq, Status: wire.ResultRefused, Reason: wire.RefusedReplayed}); !errors.Is(err, ErrStaleMsg) {
		t.Fatalf("replayed answer: %v", err)
	}
	if err := f.answer("k-1", f.kiosk["k-2"], wire.CommandResult{Seq: more[0].Seq, Status: wire.ResultDone}); !errors.Is(err, ErrMessage) {
		t.Fatalf("answer signed by another kiosk: %v", err)
	}
	log, err := f.st.Commands(ctx, "", 10)
	must(t, err)
	byKey := map[string]store.CommandRecord{}
	for _, c := range log {
		byKey[c.KioskID+"/"+c.Kind] = c
	}
	if c := byKey["k-1/"+wire.CmdOutOfService]; c.Result != wire.ResultDone || c.By != "ada" || c.Answered.IsZero() {
		t.Fatalf("k-1 audit %+v", c)
	}
	if c := byKey["k-2/"+wire.CmdOutOfService]; c.Result != wire.ResultRefused || c.Detail != wire.RefusedExpired {
		t.Fatalf("k-2 audit %+v", c)
	}
	if c := byKey["k-1/"+wire.CmdResendStatus]; c.Result != "" {
		t.Fatalf("forged answer recorded: %+v", c)
	}
}

func TestRotateKeyEnrolsNewKey(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	recs, err := f.m.Send(ctx, "ada", []string{"k-1"}, wire.CmdRotateKey, nil)
	must(t, err)
	newPub, newKey, _ := ed25519.GenerateKey(nil)
	data, _ := json.Marshal(wire.KeyRotation{NewPub: newPub})
	must(t, f.answer("k-1", f.kiosk["k-1"], wire.CommandResult{Seq: recs[0].Seq, Kind: wire.CmdRotateKey, Status: wire.ResultDone, Data: data}))
	if k, _ := f.reg.Lookup("k-1"); !k.Equal(newPub) {
		t.Fatal("new key not enrolled")
	}
	// From now on the new key is the kiosk's.
	b, _ := wire.Sign(newKey, wire.TypeBirth, wire.Birth{KioskID: "k-1", Seq: 1})
	must(t, f.m.Handle(ctx, wire.BirthTopic("k-1"), b))
}

func TestSupportBundleKept(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	recs, err := f.m.Send(ctx, "ada", []string{"k-2"}, wire.CmdSupportBundle, nil)
	must(t, err)
	data, _ := json.Marshal(wire.SupportBundle{KioskID: "k-2", Versions: map[string]string{"einwurfd": "1.2.3"}})
	must(t, f.answer("k-2", f.kiosk["k-2"], wire.CommandResult{Seq: recs[0].Seq, Kind: wire.CmdSupportBundle, Status: wire.ResultDone, Data: data}))
	evs, err := f.st.Events(ctx, "k-2", 5)
	must(t, err)
	if len(evs) == 0 || evs[0].Code != "support-bundle" || !strings.Contains(string(evs[0].Event), "1.2.3") {
		t.Fatalf("events %+v", evs)
	}
}

func TestNoBrokerLogsFailure(t *testing.T) {
	f := newFixture(t)
	f.m.SetPublisher(nil)
	recs, err := f.m.Send(context.Background(), "ada", []string{"k-1"}, wire.CmdReboot, nil)
	must(t, err)
	log, _ := f.st.Commands(context.Background(), "k-1", 1)
	if recs[0].Result != wire.ResultFailed || log[0].Result != wire.ResultFailed {
		t.Fatalf("%+v %+v", recs, log)
	}
}

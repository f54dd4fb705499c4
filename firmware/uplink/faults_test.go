package uplink_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/einwurf/einwurf/firmware/spool"
	"github.com/einwurf/einwurf/firmware/uplink"
	"github.com/einwurf/einwurf/firmware/uplink/internal/e2e"
	"github.com/einwurf/einwurf/wire"
)

func startKiosk(t *testing.T, w *e2e.World, id string, window int) *e2e.Proc {
	t.Helper()
	p, err := w.StartKiosk(id, window)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Kill() })
	return p
}

func seal(t *testing.T, p *e2e.Proc, size int, seed uint64) string {
	t.Helper()
	ans, err := p.Do(fmt.Sprintf("seal %d %d", size, seed), 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	id, ok := strings.CutPrefix(ans, "sealed ")
	if !ok {
		t.Fatalf("seal: %s", ans)
	}
	return id
}

func chunksSent(t *testing.T, lines []string) int {
	t.Helper()
	for i := len(lines) - 1; i >= 0; i-- {
		if rest, ok := strings.CutPrefix(lines[i], "stats chunks="); ok {
			n, _ := strconv.Atoi(strings.Fields(rest)[0])
			return n
		}
	}
	t.Fatalf("no stats line in %q", lines)
	return 0
}

// The kiosk process is killed with SIGKILL in the middle of a transfer and
// started again: the packet arrives exactly once, and the restarted kiosk
// resumes from what the central has rather than sending everything again.
func TestKioskKilledMidTransfer(t *testing.T) {
	w := newWorld(t, "k-a")
	runIngest(t, w, "ingest-1", nil)
	// A small window makes the transfer long enough to kill it midway.
	p := startKiosk(t, w, "k-a", 2)
	const size = 12 << 20
	id := seal(t, p, size, 7)
	total := (size + wire.ChunkSize) / wire.ChunkSize // a few more bytes of age framing
	waitFor(t, 60*time.Second, "some chunks at the central", func() bool {
		return e2e.StoredChunks(w.StateDir(), "k-a", id) >= 12
	})
	p.Kill()
	if n := e2e.Inbox(w.InboxDir())[id]; n != 0 {
		t.Fatal("filed before the transfer ended")
	}
	p = startKiosk(t, w, "k-a", 2)
	checkFiled(t, w, id, e2e.PDF(size, 7, "einwurf-e2e"), 60*time.Second)
	waitFor(t, 90*time.Second, "spool emptied by the receipt", func() bool { return w.SpoolEntries("k-a") == 0 })
	stored := 12
	if sent := chunksSent(t, p.Stop()); sent > total-stored+2*2 {
		t.Fatalf("restarted kiosk sent %d of %d chunks: it did not resume", sent, total)
	}
}

// An ingest process is killed with SIGKILL while it writes (chunks, or the
// filed PDF) and started again; a second ingest process shares the state
// folder. The packet is filed exactly once.
func TestIngestKilledMidWrite(t *testing.T) {
	w := newWorld(t, "k-a")
	ing, err := w.StartIngest("ingest-1", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { ing.Kill() }()
	k := openKiosk(t, w, "k-a")
	const size = 16 << 20
	pdf := e2e.PDF(size, 9, "ingest-kill")
	id, err := k.Seal(w.Public(), pdf, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := w.Uplink(k, w.Broker.URL(), 0)
	if err != nil {
		t.Fatal(err)
	}
	runUplink(t, u)
	for kill := 0; kill < 3; kill++ {
		at := 10 + 20*kill
		waitFor(t, 60*time.Second, "chunks being written", func() bool {
			return e2e.StoredChunks(w.StateDir(), "k-a", id) >= at || e2e.Inbox(w.InboxDir())[id] > 0
		})
		ing.Kill()
		stored, filed := e2e.StoredChunks(w.StateDir(), "k-a", id), e2e.Inbox(w.InboxDir())[id]
		t.Logf("kill %d: %d chunks stored, filed %d", kill, stored, filed)
		if kill == 0 && filed != 0 {
			t.Fatal("filed before the first kill: the kill did not strike mid-transfer")
		}
		if ing, err = w.StartIngest("ingest-1", 0); err != nil {
			t.Fatal(err)
		}
	}
	ing2, err := w.StartIngest("ingest-2", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ing2.Kill()
	checkFiled(t, w, id, pdf, 90*time.Second)
	waitFor(t, 90*time.Second, "spool emptied", spoolEmpty(k.Spool))
}

// The network between kiosk and broker is cut mid-transfer and restored;
// the packet arrives once.
func TestNetworkCutAndRestored(t *testing.T) {
	w := newWorld(t, "k-a")
	runIngest(t, w, "ingest-1", nil)
	px := proxyTo(t, w)
	k := openKiosk(t, w, "k-a")
	pdf := e2e.PDF(10<<20, 11, "cut")
	id, err := k.Seal(w.Public(), pdf, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := w.Uplink(k, px.URL(), 2)
	if err != nil {
		t.Fatal(err)
	}
	runUplink(t, u)
	waitFor(t, 60*time.Second, "transfer under way", func() bool {
		return e2e.StoredChunks(w.StateDir(), "k-a", id) >= 8
	})
	px.Cut()
	waitFor(t, 30*time.Second, "uplink notices the cut", func() bool { return !u.Connected() })
	time.Sleep(500 * time.Millisecond)
	if n := e2e.Inbox(w.InboxDir())[id]; n != 0 {
		t.Fatal("filed while cut off")
	}
	px.Restore()
	checkFiled(t, w, id, pdf, 60*time.Second)
	waitFor(t, 90*time.Second, "spool emptied", spoolEmpty(k.Spool))
	if s := u.Stats(); s.Reconnects < 2 {
		t.Fatalf("stats %+v: no reconnect", s)
	}
}

// A full disk on the kiosk: the spool refuses a new document (the kiosk
// tells the customer before scanning, from Usage().State), and the uplink
// raises a disk.full alarm on the broker; when space is back, disk.ok.
func TestDiskFullAlarm(t *testing.T) {
	w := newWorld(t, "k-a")
	events := sniff(t, w, wire.EventTopic("k-a"))
	k := openKiosk(t, w, "k-a")
	cfg, err := w.UplinkConfig(k, w.Broker.URL(), 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DiskInterval = 50 * time.Millisecond
	u := uplink.New(cfg)
	k.Alarm = u.Alarm
	runUplink(t, u)
	waitFor(t, 60*time.Second, "connected", u.Connected)
	k.Full.Store(true)
	if k.Spool.Usage().State != spool.DiskAlarm {
		t.Fatal("full disk not in alarm state")
	}
	if _, err := k.Seal(w.Public(), e2e.PDF(1000, 1, "x"), nil); err == nil {
		t.Fatal("spool accepted a document on a full disk")
	}
	if es, _ := k.Spool.List(); len(es) != 0 {
		t.Fatalf("%d entries spooled on a full disk", len(es))
	}
	codeSeen := func(code string) func() bool {
		return func() bool {
			for _, m := range events.messages() {
				var e wire.Event
				if json.Unmarshal(m.Payload(), &e) == nil && e.Code == code && e.KioskID == "k-a" {
					return true
				}
			}
			return false
		}
	}
	waitFor(t, 60*time.Second, "disk.full alarm", codeSeen(uplink.EventDiskAlarm))
	if tm := u.Telemetry(); tm.DiskState != spool.DiskAlarm {
		t.Fatalf("telemetry disk state %q", tm.DiskState)
	}
	k.Full.Store(false)
	waitFor(t, 60*time.Second, "disk.ok notice", codeSeen(uplink.EventDiskOK))
	if _, err := k.Seal(w.Public(), e2e.PDF(1000, 1, "x"), nil); err != nil {
		t.Fatalf("spool refuses after space is back: %v", err)
	}
}

// The kiosk's wall clock jumps back a day between two documents and the
// ingest process's clock is an hour ahead: both documents arrive once
// (the uplink's time-outs run on the monotonic clock; order and ids do not
// depend on agreeing clocks).
func TestClockJumps(t *testing.T) {
	w := newWorld(t, "k-a")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.RunIngestClock(ctx, "ingest-1", w.Broker.CentralURL(), time.Hour); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	k := openKiosk(t, w, "k-a")
	pdfA, pdfB := e2e.PDF(300<<10, 21, "a"), e2e.PDF(300<<10, 22, "b")
	a, err := k.Seal(w.Public(), pdfA, nil)
	if err != nil {
		t.Fatal(err)
	}
	k.Clock.Store(int64(-24 * time.Hour))
	b, err := k.Seal(w.Public(), pdfB, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := w.Uplink(k, w.Broker.URL(), 0)
	if err != nil {
		t.Fatal(err)
	}
	runUplink(t, u)
	checkFiled(t, w, a, pdfA, 30*time.Second)
	checkFiled(t, w, b, pdfB, 30*time.Second)
	waitFor(t, 90*time.Second, "spool emptied", spoolEmpty(k.Spool))
}

// The first broker of the list is down: the uplink goes on to the next.
func TestBrokerListTriedInTurn(t *testing.T) {
	w := newWorld(t, "k-a")
	runIngest(t, w, "ingest-1", nil)
	px := proxyTo(t, w)
	px.Cut() // refuses every connection: a broker that is down
	k := openKiosk(t, w, "k-a")
	pdf := e2e.PDF(200<<10, 31, "list")
	id, err := k.Seal(w.Public(), pdf, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := w.UplinkConfig(k, px.URL(), 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Brokers = []string{px.URL(), w.Broker.URL()}
	runUplink(t, uplink.New(cfg))
	checkFiled(t, w, id, pdf, 30*time.Second)
}

// The kiosk's retained status says online while it runs; killed with
// SIGKILL, its last will turns it to offline; a new subscriber sees the
// retained offline status.
func TestStatusAndLastWill(t *testing.T) {
	w := newWorld(t, "k-a")
	st := sniff(t, w, wire.StatusTopic("k-a"))
	last := func(s *sniffer) (wire.Status, bool) {
		ms := s.messages()
		if len(ms) == 0 {
			return wire.Status{}, false
		}
		var v wire.Status
		err := json.Unmarshal(ms[len(ms)-1].Payload(), &v)
		return v, err == nil
	}
	p := startKiosk(t, w, "k-a", 0)
	waitFor(t, 60*time.Second, "status online", func() bool { v, ok := last(st); return ok && v.Online && v.KioskID == "k-a" })
	p.Kill()
	waitFor(t, 60*time.Second, "last will: offline", func() bool { v, ok := last(st); return ok && !v.Online })
	later := sniff(t, w, wire.StatusTopic("k-a"))
	waitFor(t, 60*time.Second, "retained offline status", func() bool {
		v, ok := last(later)
		return ok && !v.Online && len(later.messages()) == 1 && later.messages()[0].Retained()
	})
}

// A spool entry damaged on the kiosk's disk is quarantined, never sent,
// and the alarm reaches the central as a spool.quarantine event; the
// next entry still goes.
func TestCorruptSpoolEntryQuarantinedWithAlarm(t *testing.T) {
	w := newWorld(t, "k-a")
	runIngest(t, w, "ingest-1", nil)
	events := sniff(t, w, wire.EventTopic("k-a"))
	chunks := sniff(t, w, "einwurf/v1/k/k-a/pkt/#")
	k := openKiosk(t, w, "k-a")
	bad, err := k.Seal(w.Public(), e2e.PDF(100<<10, 41, "bad"), nil)
	if err != nil {
		t.Fatal(err)
	}
	pdf := e2e.PDF(100<<10, 42, "good")
	good, err := k.Seal(w.Public(), pdf, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(k.Spool.Dir(), bad+".age"), 1000); err != nil {
		t.Fatal(err)
	}
	u, err := w.Uplink(k, w.Broker.URL(), 0)
	if err != nil {
		t.Fatal(err)
	}
	k.Alarm = u.Alarm
	runUplink(t, u)
	checkFiled(t, w, good, pdf, 30*time.Second)
	waitFor(t, 60*time.Second, "spool.quarantine event", func() bool {
		for _, m := range events.messages() {
			var e wire.Event
			if json.Unmarshal(m.Payload(), &e) == nil && e.Code == "spool.quarantine" && e.Severity == wire.SeverityAlarm {
				return true
			}
		}
		return false
	})
	for _, m := range chunks.messages() {
		if strings.Contains(m.Topic(), bad) {
			t.Fatalf("corrupt entry sent on %s", m.Topic())
		}
	}
	if _, err := os.Stat(filepath.Join(k.Spool.Dir(), "quarantine", bad+".age")); err != nil {
		t.Fatalf("corrupt entry not in quarantine: %v", err)
	}
}

// The broker dies before it saved anything (SIGKILL, no persistence yet):
// the sessions and subscriptions are gone. Ingest subscribes again on
// reconnect, and the kiosk's packet still arrives.
func TestBrokerLosesSessions(t *testing.T) {
	w := newWorld(t, "k-a")
	runIngest(t, w, "ingest-1", nil)
	k := openKiosk(t, w, "k-a")
	u, err := w.Uplink(k, w.Broker.URL(), 0)
	if err != nil {
		t.Fatal(err)
	}
	runUplink(t, u)
	waitFor(t, 60*time.Second, "kiosk connected", u.Connected)
	w.Broker.Kill()
	os.RemoveAll(filepath.Join(w.Broker.Dir(), "data"))
	os.MkdirAll(filepath.Join(w.Broker.Dir(), "data"), 0o700)
	if err := w.Broker.Start(); err != nil {
		t.Fatal(err)
	}
	pdf := e2e.PDF(600<<10, 51, "lost sessions")
	id, err := k.Seal(w.Public(), pdf, u.Kick)
	if err != nil {
		t.Fatal(err)
	}
	// The first offer may come before ingest subscribed again; the next
	// one comes after the uplink's back-off (15 s, then longer): 27 s in
	// all under qemu-aarch64 next to another package.
	checkFiled(t, w, id, pdf, 120*time.Second)
	waitFor(t, 120*time.Second, "spool emptied", spoolEmpty(k.Spool))
}

// proxyTo puts a TCP proxy, which the test can cut, in front of w's broker.
func proxyTo(t testing.TB, w *e2e.World) *e2e.Proxy {
	t.Helper()
	px, err := e2e.NewProxy(w.Broker.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	return px
}

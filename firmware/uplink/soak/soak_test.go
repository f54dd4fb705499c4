// Package soak runs randomized rounds of faults against the whole uplink
// path on a real mosquitto: kiosk processes and ingest processes killed
// with SIGKILL and restarted, the broker restarted or killed, the network
// cut, the kiosk's disk full, clocks jumping, a rogue kiosk session trying
// to join the ingest's shared subscription, a document the central never
// answers ahead of good ones, a read-only inbox for a while, processes out
// of file descriptors. Afterwards it compares what the kiosks sealed with
// what the inbox holds.
//
//	SOAK_RUNS=50 make soak
//
// The last line is "soak: N runs, L lost, D duplicated, T later than 3m0s
// (slowest S)"; the test fails unless L, D and T are 0 (T: good documents
// that took longer than deliveryBound from "accepted" to the inbox).
// Without SOAK_RUNS it is skipped, except under CI=true
// (make test in CI), where a short soak of 20 runs runs (about a minute).
package soak

import (
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/einwurf/einwurf/firmware/uplink/internal/e2e"
	"github.com/einwurf/einwurf/firmware/uplink/mosquittotest"
	"github.com/einwurf/einwurf/internal/testtool"
)

// summary is printed by TestMain as the very last line of the test binary.
var summary string

func TestMain(m *testing.M) {
	e2e.HelperMain()
	// Warnings only: info lines would interleave with benchmark results.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	code := m.Run()
	if summary != "" {
		fmt.Println(summary)
	}
	os.Exit(code)
}

// soak is the state of a soak run.
type soak struct {
	t       *testing.T
	w       *e2e.World
	rng     *rand.Rand
	px      *e2e.Proxy
	kiosks  map[string]*e2e.Proc
	ingests map[string]*e2e.Proc
	mu      sync.Mutex
	sealed  map[string]bool // packet ids the kiosks confirmed as accepted
	refused int             // documents refused on a full disk
	// stuck are packets the central never answers (a foreign device key):
	// they must stay in their spool, retried, and hold up nothing.
	stuck map[string]bool
	// sealedAt and filedAt time each good document from the kiosk's
	// "accepted" to its first sight in the inbox (watch polls it).
	sealedAt, filedAt map[string]time.Time
}

// deliveryBound is how long a good document may take from "accepted" to
// the inbox, whatever fault struck meanwhile.
const deliveryBound = 3 * time.Minute

// watch records when each document first appears in the inbox, every
// 200 ms until stop is closed.
func (s *soak) watch(stop <-chan struct{}) {
	for {
		in := e2e.Inbox(s.w.InboxDir())
		now := time.Now()
		s.mu.Lock()
		for id := range in {
			if _, ok := s.filedAt[id]; !ok {
				s.filedAt[id] = now
			}
		}
		s.mu.Unlock()
		select {
		case <-stop:
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// latencies returns the slowest delivery and how many exceeded the bound.
func (s *soak) latencies() (slowest time.Duration, late int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, at := range s.sealedAt {
		filed, ok := s.filedAt[id]
		if !ok {
			continue // counted as lost
		}
		d := filed.Sub(at)
		slowest = max(slowest, d)
		if d > deliveryBound {
			late++
			s.t.Logf("late: %s took %v", id, d.Round(time.Second))
		}
	}
	return slowest, late
}

// ciRuns and ciBudget bound the short soak CI runs.
const (
	ciRuns   = 20
	ciBudget = 150 * time.Second
)

func TestSoak(t *testing.T) {
	runsEnv := os.Getenv("SOAK_RUNS")
	budget := 45 * time.Minute
	if runsEnv == "" {
		if os.Getenv("CI") != "true" {
			t.Skip("soak runs only with SOAK_RUNS set (make soak; default there is 50), or short under CI=true")
		}
		runsEnv, budget = strconv.Itoa(ciRuns), ciBudget
	}
	runs, err := strconv.Atoi(runsEnv)
	if err != nil || runs <= 0 {
		t.Fatalf("SOAK_RUNS=%q is not a positive number", runsEnv)
	}
	mosquittotest.Need(t)
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("SOAK_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("soak: seed %d (SOAK_SEED to repeat)", seed)
	w, err := e2e.NewWorld(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	px, err := e2e.NewProxy(w.Broker.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	if err := w.SetBrokerURL(px.URL()); err != nil {
		t.Fatal(err)
	}
	s := &soak{t: t, w: w, rng: rand.New(rand.NewPCG(seed, 1)), px: px,
		kiosks: map[string]*e2e.Proc{}, ingests: map[string]*e2e.Proc{}, sealed: map[string]bool{}, stuck: map[string]bool{},
		sealedAt: map[string]time.Time{}, filedAt: map[string]time.Time{}}
	stopWatch, watched := make(chan struct{}), make(chan struct{})
	go func() { s.watch(stopWatch); close(watched) }()
	defer s.stopAll()
	for _, id := range []string{"k-1", "k-2"} {
		if err := w.AddKiosk(id); err != nil {
			t.Fatal(err)
		}
		s.startKiosk(id)
	}
	for _, id := range []string{"ingest-1", "ingest-2"} {
		s.startIngest(id, 0)
	}
	// Enrolled, but running no uplink: the rogue session's certificate.
	if err := w.AddKiosk(rogueKiosk); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	done := 0
	for ; done < runs && time.Since(start) < budget; done++ {
		s.round(done)
	}
	if done < runs {
		t.Logf("soak: time budget of %v spent after %d runs", budget, done)
	}
	rounds := time.Since(start)
	lost, dup := s.settle()
	close(stopWatch)
	<-watched
	slowest, late := s.latencies()
	t.Logf("soak: rounds took %v, settling %v", rounds.Round(time.Second), (time.Since(start) - rounds).Round(time.Second))
	summary = fmt.Sprintf("soak: %d runs, %d lost, %d duplicated, %d later than %v (slowest %v)", done, lost, dup, late, deliveryBound, slowest.Round(100*time.Millisecond))
	t.Logf("soak: %d documents sealed, %d refused on a full disk, %d stuck ahead of others, %v", len(s.sealed), s.refused, len(s.stuck), time.Since(start).Round(time.Second))
	if lost != 0 || dup != 0 || late != 0 {
		t.Errorf("%s", summary)
	}
}

func (s *soak) startKiosk(id string) {
	p, err := s.w.StartKiosk(id, 0)
	if err != nil {
		s.t.Fatal(err)
	}
	s.kiosks[id] = p
}

func (s *soak) startIngest(id string, clock time.Duration) {
	p, err := s.w.StartIngest(id, clock)
	if err != nil {
		s.t.Fatal(err)
	}
	s.ingests[id] = p
}

func (s *soak) stopAll() {
	for _, p := range s.kiosks {
		p.Kill()
	}
	for _, p := range s.ingests {
		p.Kill()
	}
}

// seal asks a kiosk to seal a document and records it if accepted.
func (s *soak) seal(kiosk string, size int, seed uint64) {
	ans, err := s.kiosks[kiosk].Do(fmt.Sprintf("seal %d %d", size, seed), time.Minute)
	if err != nil {
		// Killed while sealing: the customer was not told it is accepted.
		return
	}
	if id, ok := strings.CutPrefix(ans, "sealed "); ok {
		s.mu.Lock()
		s.sealed[id] = true
		s.sealedAt[id] = time.Now()
		s.mu.Unlock()
	}
}

func (s *soak) size() int {
	switch s.rng.IntN(10) {
	case 0:
		return 4<<20 + s.rng.IntN(4<<20) // a long letter with photos
	case 1, 2:
		return 1<<20 + s.rng.IntN(1<<20)
	default:
		return 20<<10 + s.rng.IntN(400<<10)
	}
}

func (s *soak) pause(maxMS int) { time.Sleep(time.Duration(s.rng.IntN(maxMS)) * time.Millisecond) }

func (s *soak) kioskIDs() []string { return []string{"k-1", "k-2"} }

// round seals a few documents on random kiosks while one random fault
// strikes.
func (s *soak) round(n int) {
	kiosk := s.kioskIDs()[s.rng.IntN(2)]
	var wg sync.WaitGroup
	docs := 1 + s.rng.IntN(3)
	sizes, seeds := make([]int, docs), make([]uint64, docs)
	faults := []string{"kiosk-kill", "ingest-kill", "broker-restart", "broker-kill", "stall-broker-kill", "net-cut", "disk-full", "clock-jump",
		"rogue-share", "stuck-ahead", "inbox-readonly", "fd-exhaust", "none"}
	fault := faults[s.rng.IntN(len(faults))]
	for i := range sizes {
		sizes[i], seeds[i] = s.size(), s.rng.Uint64()
		if fault == "stall-broker-kill" {
			sizes[i] = 2<<20 + s.rng.IntN(6<<20) // long enough to be caught in flight
		}
	}
	s.t.Logf("round %d: %s, %d documents on %s", n, fault, docs, kiosk)
	if fault == "disk-full" {
		// The kiosk sees a full disk before the visit: it refuses the
		// document (the customer is told before scanning); nothing is lost.
		os.WriteFile(s.w.KioskDir(kiosk)+"/diskfull", nil, 0o600)
		ans, err := s.kiosks[kiosk].Do("seal 1000 1", time.Minute)
		if err == nil && strings.HasPrefix(ans, "sealed ") {
			s.t.Errorf("a kiosk with a full disk accepted a document")
		}
		s.refused++
		os.Remove(s.w.KioskDir(kiosk) + "/diskfull")
	}
	if fault == "stuck-ahead" {
		// A document the central never answers goes first.
		ans, err := s.kiosks[kiosk].Do(fmt.Sprintf("seal-foreign %d %d", 50<<10, s.rng.Uint64()), time.Minute)
		if id, ok := strings.CutPrefix(ans, "sealed "); err == nil && ok {
			s.mu.Lock()
			s.stuck[id] = true
			s.mu.Unlock()
		}
	}
	var rogue mqtt.Client
	if fault == "rogue-share" {
		rogue = s.rogueSession()
	}
	var undoInbox []func()
	if fault == "inbox-readonly" {
		undoInbox = s.inboxReadOnly()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range sizes {
			s.seal(kiosk, sizes[i], seeds[i])
		}
	}()
	if s.rng.IntN(2) == 0 {
		s.pause(400) // strike while documents are being sealed and sent
	} else {
		wg.Wait() // strike while the last document is on its way
		s.pause(150)
	}
	switch fault {
	case "kiosk-kill":
		wg.Wait() // the seal must not race the kill in this test's bookkeeping
		s.pause(300)
		s.kiosks[kiosk].Kill()
		s.pause(300)
		s.startKiosk(kiosk)
	case "ingest-kill":
		id := []string{"ingest-1", "ingest-2"}[s.rng.IntN(2)]
		s.ingests[id].Kill()
		s.pause(500)
		s.startIngest(id, 0)
	case "broker-restart":
		if err := s.w.Broker.Restart(); err != nil {
			s.t.Fatal(err)
		}
	case "broker-kill":
		s.w.Broker.Kill()
		s.pause(500)
		if err := s.w.Broker.Start(); err != nil {
			s.t.Fatal(err)
		}
	case "stall-broker-kill":
		// One ingest process stalls; the shared subscription still hands
		// it half the chunks, which the broker queues (and acknowledged to
		// the kiosk), and then the broker dies with what it holds in memory.
		stalled := s.ingests[[]string{"ingest-1", "ingest-2"}[s.rng.IntN(2)]]
		stalled.Signal(syscall.SIGSTOP)
		wg.Wait()
		s.pause(800)
		s.w.Broker.Kill()
		stalled.Signal(syscall.SIGCONT)
		s.pause(300)
		if err := s.w.Broker.Start(); err != nil {
			s.t.Fatal(err)
		}
	case "net-cut":
		s.px.Cut()
		s.pause(1500)
		s.px.Restore()
	case "rogue-share":
		wg.Wait()
		s.pause(1000)
		rogue.Disconnect(50)
	case "inbox-readonly":
		s.pause(2000)
		for _, undo := range undoInbox {
			undo()
		}
	case "fd-exhaust":
		p := s.ingests[[]string{"ingest-1", "ingest-2"}[s.rng.IntN(2)]]
		if s.rng.IntN(2) == 0 {
			p = s.kiosks[kiosk]
		}
		restore, err := p.LimitFiles(s.rng.IntN(2))
		if err != nil {
			s.t.Fatal(err)
		}
		s.pause(1500)
		if err := restore(); err != nil {
			s.t.Fatal(err)
		}
	case "clock-jump":
		// The kiosk's clock jumps by up to a day either way, and an ingest
		// process restarts with a clock off by up to an hour.
		s.kiosks[kiosk].Do(fmt.Sprintf("clock %d", s.rng.IntN(2*86400)-86400), 10*time.Second)
		id := []string{"ingest-1", "ingest-2"}[s.rng.IntN(2)]
		s.ingests[id].Stop()
		s.startIngest(id, time.Duration(s.rng.IntN(7200)-3600)*time.Second)
	}
	wg.Wait()
	// Let the round's transfers get going before the next fault.
	s.pause(1500)
}

// settle waits (bounded) until every sealed document is in the inbox and
// the spools are empty, then counts what is lost and duplicated.
func (s *soak) settle() (lost, dup int) {
	s.px.Restore()
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		in := e2e.Inbox(s.w.InboxDir())
		missing := 0
		for id := range s.sealed {
			if in[id] == 0 {
				missing++
			}
		}
		if missing == 0 && s.w.SpoolEntries("k-1")+s.w.SpoolEntries("k-2") == len(s.stuck) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	in := e2e.Inbox(s.w.InboxDir())
	for id := range s.sealed {
		if in[id] == 0 {
			lost++
			s.t.Logf("lost: %s", id)
		}
	}
	for id, n := range in {
		if n > 1 {
			dup += n - 1
			s.t.Logf("duplicated: %s (%d times)", id, n)
		}
	}
	for id := range s.stuck {
		if in[id] != 0 {
			s.t.Errorf("a packet signed with an unknown device key was filed: %s", id)
		}
	}
	if left := s.w.SpoolEntries("k-1") + s.w.SpoolEntries("k-2"); left != len(s.stuck) {
		s.t.Errorf("%d spool entries left after settling, want the %d stuck ones", left, len(s.stuck))
	}
	return lost, dup
}

// rogueKiosk is the enrolled kiosk whose certificate the rogue session
// uses.
const rogueKiosk = "k-rogue"

// rogueSession connects with an enrolled kiosk's certificate and asks for
// the ingest's shared subscription, and the whole kiosk tree: the broker
// must refuse both (the round goes on with the session connected).
func (s *soak) rogueSession() mqtt.Client {
	tc, err := s.w.PKI.ClientTLS(rogueKiosk)
	if err != nil {
		s.t.Fatal(err)
	}
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(s.w.Broker.URL()).SetClientID(rogueKiosk).SetTLSConfig(tc).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second))
	if t := c.Connect(); !t.WaitTimeout(15*time.Second) || t.Error() != nil {
		s.t.Fatalf("rogue session: %v", t.Error())
	}
	for _, f := range []string{"$share/ingest/einwurf/v1/k/+/pkt/#", "einwurf/v1/k/#"} {
		t := c.Subscribe(f, 1, func(mqtt.Client, mqtt.Message) {})
		if !t.WaitTimeout(15*time.Second) || t.Error() != nil {
			s.t.Fatalf("rogue subscribe %s: %v", f, t.Error())
		}
		for _, q := range t.(*mqtt.SubscribeToken).Result() {
			if q != 0x80 {
				s.t.Errorf("the broker gave a kiosk the subscription %s", f)
			}
		}
	}
	return c
}

// inboxReadOnly makes every folder of the inbox refuse new files (a real
// fault of the file system) and returns the functions that undo it.
func (s *soak) inboxReadOnly() []func() {
	var undo []func()
	filepath.WalkDir(s.w.InboxDir(), func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			undo = append(undo, testtool.ReadOnly(s.t, path))
		}
		return nil
	})
	return undo
}

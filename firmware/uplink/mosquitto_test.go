package uplink_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/einwurf/einwurf/central/ingest"
	"github.com/einwurf/einwurf/firmware/spool"
	"github.com/einwurf/einwurf/firmware/uplink"
	"github.com/einwurf/einwurf/firmware/uplink/internal/e2e"
	"github.com/einwurf/einwurf/firmware/uplink/mosquittotest"
	"github.com/einwurf/einwurf/wire"
)

func TestMain(m *testing.M) {
	e2e.HelperMain()
	// Warnings only: info lines would interleave with benchmark results.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	os.Exit(m.Run())
}

func newWorld(t testing.TB, kiosks ...string) *e2e.World {
	t.Helper()
	mosquittotest.Need(t)
	w, err := e2e.NewWorld(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("mosquitto log:\n%s", w.Broker.Log())
		}
		w.Close()
	})
	for _, k := range kiosks {
		if err := w.AddKiosk(k); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// runIngest runs an in-process ingest until the test ends.
func runIngest(t testing.TB, w *e2e.World, clientID string, filed chan<- ingest.Filed) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		w.RunIngest(ctx, clientID, w.Broker.CentralURL(), func(f ingest.Filed) {
			if filed != nil {
				filed <- f
			}
		})
		close(done)
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// runUplink runs u until the test ends.
func runUplink(t testing.TB, u *uplink.Uplink) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { u.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func openKiosk(t testing.TB, w *e2e.World, id string) *e2e.Kiosk {
	t.Helper()
	k, err := e2e.OpenKiosk(w.Dir, id)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// waitFor polls cond every 20 ms for at most d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func spoolEmpty(sp *spool.Spool) func() bool {
	return func() bool { es, err := sp.List(); return err == nil && len(es) == 0 }
}

// checkFiled waits until packet id is in the inbox exactly once with the
// given PDF.
func checkFiled(t testing.TB, w *e2e.World, id string, pdf []byte, within time.Duration) {
	t.Helper()
	waitFor(t, within, "packet filed", func() bool { return e2e.Inbox(w.InboxDir())[id] > 0 })
	if n := e2e.Inbox(w.InboxDir())[id]; n != 1 {
		t.Fatalf("packet filed %d times", n)
	}
	got, err := e2e.InboxPDF(w.InboxDir(), id)
	if err != nil || !bytes.Equal(got, pdf) {
		t.Fatalf("filed PDF differs (%d bytes, want %d, %v)", len(got), len(pdf), err)
	}
}

// A 40 MB packet crosses a mosquitto whose message_size_limit is 1 MiB
// (so it cannot travel as one message), over mutual TLS, while the broker
// is restarted in the middle of the transfer; it arrives whole and once,
// and the spool entry goes only after the receipt.
func TestMosquitto40MBWithBrokerRestart(t *testing.T) {
	w := newWorld(t, "k-a")
	runIngest(t, w, "ingest-1", nil)
	k := openKiosk(t, w, "k-a")
	pdf := e2e.PDF(40<<20, 1, "big")
	id, err := k.Seal(w.Public(), pdf, nil)
	if err != nil {
		t.Fatal(err)
	}
	// One message of the whole packet is refused by the broker: publish it
	// as the central (who may publish anywhere) and see that it never
	// arrives.
	tooBig := sniff(t, w, "einwurf/v1/k/k-a/big")
	pub := centralClient(t, w, "central-big")
	pub.Publish("einwurf/v1/k/k-a/big", 1, false, bytes.Repeat([]byte{1}, 2<<20)).WaitTimeout(10 * time.Second)

	u, err := w.Uplink(k, w.Broker.URL(), 0)
	if err != nil {
		t.Fatal(err)
	}
	runUplink(t, u)
	waitFor(t, 60*time.Second, "a third of the chunks at the central", func() bool {
		return e2e.StoredChunks(w.StateDir(), "k-a", id) >= 50
	})
	if err := w.Broker.Restart(); err != nil {
		t.Fatal(err)
	}
	if es, _ := k.Spool.List(); len(es) != 1 {
		t.Fatalf("spool holds %d entries before the receipt, want 1", len(es))
	}
	checkFiled(t, w, id, pdf, 90*time.Second)
	waitFor(t, 90*time.Second, "spool emptied by the receipt", spoolEmpty(k.Spool)) // a receipt lost in the restart comes after the next offer: back-off and answer time-out
	// The window bounds what is in flight (and so the kiosk's memory).
	if s := u.Stats(); s.MaxInFlight < 2 || s.MaxInFlight > 32 {
		t.Fatalf("max in flight %d, want 2..32 (the default window)", s.MaxInFlight)
	}
	if n := len(tooBig.messages()); n != 0 {
		t.Fatalf("a %d MiB message crossed the broker", 2)
	}
}

// sniffer records every message on a filter, as the central user (who may
// read everything).
type sniffer struct {
	mu  sync.Mutex
	got []mqtt.Message
}

func (s *sniffer) messages() []mqtt.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]mqtt.Message(nil), s.got...)
}

func centralClient(t testing.TB, w *e2e.World, clientID string) mqtt.Client {
	t.Helper()
	tlsConf, err := w.PKI.ClientTLS(mosquittotest.CentralUser)
	if err != nil {
		t.Fatal(err)
	}
	return connect(t, w.Broker.CentralURL(), clientID, tlsConf)
}

func kioskClient(t testing.TB, w *e2e.World, kioskID string) mqtt.Client {
	t.Helper()
	tlsConf, err := w.PKI.ClientTLS(kioskID)
	if err != nil {
		t.Fatal(err)
	}
	return connect(t, w.Broker.URL(), kioskID+"-x", tlsConf)
}

func connect(t testing.TB, url, clientID string, tlsConf *tls.Config) mqtt.Client {
	t.Helper()
	opts := mqtt.NewClientOptions().AddBroker(url).SetClientID(clientID).SetCleanSession(true).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).SetOrderMatters(false)
	opts.SetTLSConfig(tlsConf)
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", clientID, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c
}

func sniff(t testing.TB, w *e2e.World, filter string) *sniffer {
	t.Helper()
	s := &sniffer{}
	c := centralClient(t, w, "sniffer-"+strings.NewReplacer("/", "-", "#", "all", "+", "any").Replace(filter))
	tok := c.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) {
		s.mu.Lock()
		s.got = append(s.got, m)
		s.mu.Unlock()
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	return s
}

// Kiosk A cannot publish under kiosk B's topics nor read what the central
// sends B; and a packet signed by A but sent as B (as if the broker's ACL
// were bypassed) is rejected by ingest.
func TestMosquittoACLKioskIsolation(t *testing.T) {
	w := newWorld(t, "k-a", "k-b")
	filed := make(chan ingest.Filed, 4)
	runIngest(t, w, "ingest-1", filed)
	all := sniff(t, w, "#")
	a := kioskClient(t, w, "k-a")
	aGot := make(chan string, 16)
	if tok := a.Subscribe("einwurf/v1/c/k-b/#", 1, func(_ mqtt.Client, m mqtt.Message) { aGot <- m.Topic() }); !tok.WaitTimeout(5 * time.Second) {
		t.Fatal("subscribe timed out")
	}
	a.Publish(wire.EventTopic("k-b"), 1, false, []byte(`{"forged":true}`)).WaitTimeout(5 * time.Second)
	a.Publish(wire.EventTopic("k-a"), 1, false, []byte(`{"own":true}`)).WaitTimeout(5 * time.Second)

	// A seals a packet and offers it under B's topic: the broker drops it.
	ka := openKiosk(t, w, "k-a")
	pdf := e2e.PDF(100<<10, 2, "acl")
	id, err := ka.Seal(w.Public(), pdf, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := ka.Spool.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	a.Publish(wire.OfferTopic("k-b", id), 1, false, e.Signed).WaitTimeout(5 * time.Second)
	// The central may write anywhere: it delivers A's offer as B's, as an
	// attacker who got past the ACL would. Ingest must not answer.
	c := centralClient(t, w, "central-forger")
	c.Publish(wire.OfferTopic("k-b", id), 1, false, e.Signed).WaitTimeout(5 * time.Second)
	c.Publish(wire.ProgressTopic("k-b"), 1, false, []byte(`{"to":"b"}`)).WaitTimeout(5 * time.Second)

	waitFor(t, 60*time.Second, "A's own event", func() bool {
		for _, m := range all.messages() {
			if m.Topic() == wire.EventTopic("k-a") {
				return true
			}
		}
		return false
	})
	time.Sleep(time.Second) // let anything that would leak arrive
	offersAsB := 0
	for _, m := range all.messages() {
		switch {
		case m.Topic() == wire.EventTopic("k-b"):
			t.Fatal("kiosk A published under kiosk B's topics")
		case m.Topic() == wire.OfferTopic("k-b", id):
			offersAsB++
		case strings.HasPrefix(m.Topic(), wire.CentralPrefix("k-b")+"/") && m.Topic() != wire.ProgressTopic("k-b"):
			t.Fatalf("central answered a forged offer on %s", m.Topic())
		}
	}
	if offersAsB != 1 {
		t.Fatalf("%d offers under B's topic crossed the broker, want 1 (the central's forgery only)", offersAsB)
	}
	for _, m := range all.messages() {
		if m.Topic() == wire.ProgressTopic("k-b") && !bytes.Equal(m.Payload(), []byte(`{"to":"b"}`)) {
			t.Fatal("central answered a forged offer with progress")
		}
	}
	select {
	case tp := <-aGot:
		t.Fatalf("kiosk A read B's message on %s", tp)
	default:
	}
	select {
	case <-filed:
		t.Fatal("forged packet filed")
	default:
	}
}

// The whole path of a visit's document, watched on '#': no customer
// number, no PDF bytes cross the broker, and the kiosk's spool holds only
// ciphertext.
func TestMosquittoNothingReadableOnTheBroker(t *testing.T) {
	w := newWorld(t, "k-a")
	all := sniff(t, w, "#")
	runIngest(t, w, "ingest-1", nil)
	k := openKiosk(t, w, "k-a")
	pdf := e2e.PDF(700<<10, 3, "SECRET-PAGE-CONTENT "+e2e.Number)
	id, err := k.Seal(w.Public(), pdf, nil)
	if err != nil {
		t.Fatal(err)
	}
	spoolBytes, _ := os.ReadFile(filepath.Join(k.Spool.Dir(), id+".age"))
	u, err := w.Uplink(k, w.Broker.URL(), 0)
	if err != nil {
		t.Fatal(err)
	}
	runUplink(t, u)
	checkFiled(t, w, id, pdf, 30*time.Second)
	waitFor(t, 60*time.Second, "connected", u.Connected)
	if err := u.Publish(wire.TelemetryTopic("k-a"), u.Telemetry(), false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "receipt seen on the broker", func() bool {
		for _, m := range all.messages() {
			if m.Topic() == wire.ReceiptTopic("k-a") {
				return true
			}
		}
		return false
	})
	msgs := all.messages()
	forbidden := [][]byte{[]byte(e2e.Number), []byte("SECRET-PAGE"), []byte("%PDF")}
	for off := 0; off+32 <= len(pdf); off += len(pdf) / 64 {
		forbidden = append(forbidden, pdf[off:off+32])
	}
	check := func(where string, b []byte) {
		for _, f := range forbidden {
			if bytes.Contains(b, f) {
				t.Fatalf("%s carries plaintext (%q...)", where, f[:min(8, len(f))])
			}
		}
	}
	var chunks, total int
	for _, m := range msgs {
		check("topic "+m.Topic(), []byte(m.Topic()))
		check("message on "+m.Topic(), m.Payload())
		total += len(m.Payload())
		if strings.Contains(m.Topic(), "/chunk/") {
			chunks++
		}
	}
	if chunks < 3 || total < len(pdf) {
		t.Fatalf("sniffer saw %d chunks, %d bytes: it did not watch the transfer", chunks, total)
	}
	if len(spoolBytes) < len(pdf) {
		t.Fatalf("spool payload %d bytes", len(spoolBytes))
	}
	check("spool payload", spoolBytes)
}

package uplink_test

import (
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/einwurf/einwurf/firmware/uplink/internal/e2e"
	"github.com/einwurf/einwurf/internal/testtool"
	"github.com/einwurf/einwurf/wire"
)

// suback subscribes c to filter and returns the broker's answer for it
// (0x80: refused).
func suback(t *testing.T, c mqtt.Client, filter string) byte {
	t.Helper()
	tok := c.Subscribe(filter, 1, func(mqtt.Client, mqtt.Message) {})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	res := tok.(*mqtt.SubscribeToken).Result()
	for _, q := range res {
		return q
	}
	t.Fatalf("subscribe %s: no answer", filter)
	return 0
}

// TestMosquittoRogueKioskCannotStallIntake: a kiosk's certificate does
// not get it into the ingest's shared subscription, nor any subscription
// outside its own topics, nor another kiosk's client id; and a 13-chunk
// packet of another kiosk arrives while the rogue session is connected.
func TestMosquittoRogueKioskCannotStallIntake(t *testing.T) {
	w := newWorld(t, "k-a", "k-rogue")
	runIngest(t, w, "ingest-1", nil)
	rogue := kioskClient(t, w, "k-rogue")
	for _, filter := range []string{"$share/ingest/einwurf/v1/k/+/pkt/#", "$share/ingest/#", "einwurf/v1/k/+/pkt/#",
		"einwurf/v1/c/k-a/#", "einwurf/v1/c/+/#", "#"} {
		if q := suback(t, rogue, filter); q != 0x80 {
			t.Errorf("a kiosk got the subscription %s (granted QoS %d)", filter, q)
		}
	}
	if q := suback(t, rogue, wire.CentralPrefix("k-rogue")+"/#"); q != 1 {
		t.Errorf("a kiosk was refused its own topics: %#x", q)
	}

	// The other kiosk's document goes through with the rogue connected.
	k := openKiosk(t, w, "k-a")
	pdf := e2e.PDF(13*256<<10-4096, 13, "rogue")
	id, err := k.Seal(w.Public(), pdf, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := k.Spool.Get(id)
	if e.Manifest.Chunks() != 13 {
		t.Fatalf("%d chunks, want 13", e.Manifest.Chunks())
	}
	u, err := w.Uplink(k, w.Broker.URL(), 0)
	if err != nil {
		t.Fatal(err)
	}
	runUplink(t, u)
	start := time.Now()
	checkFiled(t, w, id, pdf, 30*time.Second)
	t.Logf("13-chunk packet filed %v after start with a rogue kiosk session connected", time.Since(start).Round(time.Millisecond))

	// The rogue asks for k-a's client id: the broker gives it its own, and
	// k-a's session stays.
	waitFor(t, 60*time.Second, "k-a connected", u.Connected)
	tc, err := w.PKI.ClientTLS("k-rogue")
	if err != nil {
		t.Fatal(err)
	}
	connect(t, w.Broker.URL(), "k-a", tc)
	// mosquitto logs the session as it takes it; waited for, not slept on
	// (a loaded machine writes its log later than half a second).
	if !testtool.Within(30*time.Second, func() bool { return strings.Contains(w.Broker.Log(), "as k-rogue") }) {
		t.Fatalf("the thief's session is not named after its certificate:\n%s", w.Broker.Log())
	}
	if strings.Contains(w.Broker.Log(), "Client k-a already connected") || !u.Connected() {
		t.Fatalf("a kiosk took over another's client id:\n%s", w.Broker.Log())
	}
}

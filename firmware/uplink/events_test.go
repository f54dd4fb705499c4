package uplink_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/einwurf/einwurf/firmware/uplink"
	"github.com/einwurf/einwurf/firmware/uplink/internal/e2e"
	"github.com/einwurf/einwurf/wire"
)

// TestEventNotBehindAWaitingPacket: an alarm raised while a packet's offer
// waits for the central's answer (here the central does not answer at
// all) reaches the broker at once, not after the offer's time-out: events
// are published beside the send loop.
func TestEventNotBehindAWaitingPacket(t *testing.T) {
	w := newWorld(t, "k-a")
	k := openKiosk(t, w, "k-a")
	if _, err := k.Seal(w.Public(), e2e.PDF(64<<10, 3, "waiting"), nil); err != nil {
		t.Fatal(err)
	}
	offers := sniff(t, w, wire.OfferTopic("k-a", "+"))
	events := sniff(t, w, wire.EventTopic("k-a"))
	cfg, err := w.UplinkConfig(k, w.Broker.URL(), 0)
	if err != nil {
		t.Fatal(err)
	}
	const answerTimeout = 60 * time.Second
	cfg.AnswerTimeout = answerTimeout // no ingest runs: the offer waits this long
	u := uplink.New(cfg)
	runUplink(t, u)
	waitFor(t, 30*time.Second, "the packet offered", func() bool { return len(offers.messages()) > 0 })
	u.Alarm("scanner.absent", "unplugged")
	raised := time.Now()
	waitFor(t, answerTimeout/2, "the alarm at the broker while the offer waits", func() bool {
		for _, m := range events.messages() {
			var e wire.Event
			if json.Unmarshal(m.Payload(), &e) == nil && e.Code == "scanner.absent" {
				return true
			}
		}
		return false
	})
	t.Logf("alarm at the broker %v after it was raised, the offer still waiting", time.Since(raised).Round(time.Millisecond))
}

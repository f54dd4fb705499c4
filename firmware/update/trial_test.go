package update

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/einwurf/einwurf/ota"
	"github.com/einwurf/einwurf/ota/durable"
	"github.com/einwurf/einwurf/ota/durable/crashfs"
	"github.com/einwurf/einwurf/wire"
)

// TestTrialReportSentAgainUntilAcknowledged: a booted-on-trial report lost
// on the way (the central restarting, a subscription not yet made) is sent
// again while the health check waits for the central's answer, and no
// longer once the central acknowledged it. Sent once only, a lost report
// rolled a good version back (health:receipt-round-trip).
func TestTrialReportSentAgainUntilAcknowledged(t *testing.T) {
	centralPub, central, _ := ed25519.GenerateKey(nil)
	_, device, _ := ed25519.GenerateKey(nil)
	fs := crashfs.New()
	fs.MkdirAll("/u/ota")
	st, _ := json.Marshal(ota.State{Phase: wire.UpdateTrial, RolloutID: "r1", Target: "rootfs-2.0.img", Version: "2.0", Slot: "b"})
	if err := durable.WriteFile(fs, "/u/ota/state.json", st); err != nil {
		t.Fatal(err)
	}
	u, err := ota.New(ota.Config{FS: fs, Dir: "/u/ota"})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var trials int
	s := New(Config{KioskID: "k1", CentralKey: centralPub, DeviceKey: device, SeqFile: "/u/offer-seq", FS: fs,
		Updaters: []*ota.Updater{u},
		Publish: func(_ string, payload []byte, _ bool) error {
			var r wire.UpdateReport
			if err := wire.Verify(device.Public().(ed25519.PublicKey), wire.TypeUpdateReport, payload, &r); err != nil {
				t.Errorf("report: %v", err)
			}
			if r.State == wire.UpdateTrial {
				mu.Lock()
				trials++ // taken by the broker, then lost
				mu.Unlock()
			}
			return nil
		}})
	count := func() int { mu.Lock(); defer mu.Unlock(); return trials }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.sendReports(ctx)
	s.Report(wire.UpdateReport{RolloutID: "r1", Target: "rootfs-2.0.img", Version: "2.0", State: wire.UpdateTrial})

	deadline := time.Now().Add(4*TrialResendInterval + 5*time.Second)
	for count() < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := count(); n < 2 {
		t.Fatalf("the unacknowledged trial report was sent %d times, want again within %v", n, TrialResendInterval)
	}
	ack, err := wire.Sign(central, wire.TypeUpdateAck, wire.UpdateAck{KioskID: "k1", RolloutID: "r1", Version: "2.0", State: wire.UpdateTrial})
	if err != nil {
		t.Fatal(err)
	}
	s.Offer(ack)
	if err := s.AwaitAck(ctx); err != nil {
		t.Fatal(err)
	}
	// A resend decided just before the acknowledgement may still be on its
	// way when count is read; one more is that, two more are resends after
	// the acknowledgement (a sender that goes on sends two in this window).
	after := count()
	time.Sleep(2*TrialResendInterval + 1500*time.Millisecond)
	if n := count(); n > after+1 {
		t.Fatalf("the trial report was sent %d more times after the central's acknowledgement", n-after)
	}
}

package uplink_test

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/einwurf/einwurf/firmware/uplink"
	"github.com/einwurf/einwurf/firmware/uplink/internal/e2e"
)

// TestRotatedKeyWaitingPacketFiled: a document sealed while the old device
// key was in use, still waiting when the key is rotated, is filed. The
// central knows only the new key by then; the uplink offers the waiting
// packet's manifest signed with the current key (Config.DeviceKey). Without
// it the central cannot verify the offer and the document would wait for
// ever.
func TestRotatedKeyWaitingPacketFiled(t *testing.T) {
	w := newWorld(t, "k-a")
	k := openKiosk(t, w, "k-a")
	pdf := e2e.PDF(1<<20, 7, "rotated")
	id, err := k.Seal(w.Public(), pdf, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The rotation: the central enrols the new key (the old one retired)
	// while the packet is still in the kiosk's spool.
	pub, next, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Reg.Enrol("k-a", pub); err != nil {
		t.Fatal(err)
	}
	runIngest(t, w, "ingest-1", nil)
	cfg, err := w.UplinkConfig(k, w.Broker.URL(), 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DeviceKey = func() ed25519.PrivateKey { return next }
	runUplink(t, uplink.New(cfg))
	checkFiled(t, w, id, pdf, 60*time.Second)
	waitFor(t, 90*time.Second, "spool emptied by the receipt", spoolEmpty(k.Spool))
}

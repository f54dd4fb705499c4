package uplink_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/einwurf/einwurf/firmware/uplink"
	"github.com/einwurf/einwurf/firmware/uplink/internal/e2e"
	"github.com/einwurf/einwurf/wire"
)

// flipSignature flips one bit of the signature of packet id's spooled
// manifest: the kiosk cannot tell (it does not check its own signature),
// the central refuses it without an answer.
func flipSignature(t *testing.T, k *e2e.Kiosk, id string) {
	t.Helper()
	path := filepath.Join(k.Spool.Dir(), id+".manifest")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s wire.Signed
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	s.Sig[5] ^= 1
	b, _ = json.Marshal(s)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestMosquittoStuckPacketsDoNotHoldTheQueue: ahead of two good documents
// sit one whose manifest signature has a flipped bit, one signed with a
// device key the central does not know (a replaced key) and one whose
// manifest asks for 1 MiB chunks. The good ones are filed; the two the
// central never answers raise packet.stuck naming their packet ids only
// and stay in the spool, retried with back-off; the 1 MiB one is
// quarantined (it can never cross the broker).
func TestMosquittoStuckPacketsDoNotHoldTheQueue(t *testing.T) {
	w := newWorld(t, "k-a")
	runIngest(t, w, "ingest-1", nil)
	events := sniff(t, w, wire.EventTopic("k-a"))
	k := openKiosk(t, w, "k-a")
	var mu sync.Mutex
	var alarms []string
	k.Alarm = func(code, _ string) { mu.Lock(); alarms = append(alarms, code); mu.Unlock() }
	seal := func(marker string, seed uint64) (string, []byte) {
		t.Helper()
		pdf := e2e.PDF(300<<10, seed, marker)
		id, err := k.Seal(w.Public(), pdf, nil)
		if err != nil {
			t.Fatal(err)
		}
		k.Clock.Add(int64(time.Second)) // keep the order of creation
		return id, pdf
	}
	flipped, _ := seal("flipped", 1)
	flipSignature(t, k, flipped)
	enrolled := k.Key
	_, k.Key, _ = ed25519.GenerateKey(nil)
	replaced, _ := seal("replaced key", 2)
	k.Key = enrolled
	// A manifest with 1 MiB chunks, committed as an older firmware might.
	p, err := k.Spool.Create()
	if err != nil {
		t.Fatal(err)
	}
	payload := bytes.Repeat([]byte{7}, 3<<20)
	p.Write(payload)
	sum := sha256.Sum256(payload)
	big := wire.Manifest{V: 1, PacketID: "b16c0de", KioskID: "k-a", Created: k.Now(), Size: int64(len(payload)),
		SHA256: hex.EncodeToString(sum[:]), ChunkSize: 1 << 20}
	signed, _ := wire.Sign(k.Key, wire.TypeManifest, big)
	if err := p.Commit(big, signed); err != nil {
		t.Fatal(err)
	}
	k.Clock.Add(int64(time.Second))
	good1, pdf1 := seal("good one", 3)
	good2, pdf2 := seal("good two", 4)

	cfg, err := w.UplinkConfig(k, w.Broker.URL(), 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg.AnswerTimeout, cfg.StuckBackoff, cfg.StuckTries = 2*time.Second, 300*time.Millisecond, 2
	u := uplink.New(cfg)
	runUplink(t, u)
	checkFiled(t, w, good1, pdf1, 30*time.Second)
	checkFiled(t, w, good2, pdf2, 30*time.Second)

	waitFor(t, 30*time.Second, "packet.stuck for both stuck packets", func() bool {
		seen := map[string]bool{}
		for _, m := range events.messages() {
			var ev wire.Event
			if json.Unmarshal(m.Payload(), &ev) == nil && ev.Code == uplink.EventPacketStuck {
				seen[ev.Detail] = true
			}
		}
		return seen[flipped] && seen[replaced]
	})
	for _, m := range events.messages() {
		if bytes.Contains(m.Payload(), []byte(e2e.Number)) {
			t.Fatalf("an event carries the customer number: %s", m.Payload())
		}
	}
	for _, id := range []string{flipped, replaced} {
		if _, err := k.Spool.Get(id); err != nil {
			t.Errorf("stuck packet %s left the spool: %v", id, err)
		}
	}
	if _, err := k.Spool.Get(big.PacketID); err == nil || k.Spool.Usage().Quarantined != 1 {
		t.Errorf("the 1 MiB-chunk packet is not quarantined (%v, %d quarantined)", err, k.Spool.Usage().Quarantined)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(alarms) != 1 || alarms[0] != "spool.quarantine" {
		t.Errorf("spool alarms %v, want one quarantine", alarms)
	}
}

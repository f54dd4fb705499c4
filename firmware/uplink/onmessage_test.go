package uplink

import (
	"crypto/ed25519"
	"testing"

	"github.com/einwurf/einwurf/wire"
)

type fakeMessage struct {
	topic   string
	payload []byte
}

func (m fakeMessage) Duplicate() bool   { return false }
func (m fakeMessage) Qos() byte         { return 1 }
func (m fakeMessage) Retained() bool    { return false }
func (m fakeMessage) Topic() string     { return m.topic }
func (m fakeMessage) MessageID() uint16 { return 1 }
func (m fakeMessage) Payload() []byte   { return m.payload }
func (m fakeMessage) Ack()              {}

// FuzzOnMessage feeds arbitrary messages from the broker to the uplink's
// handler: it must never panic or block, and queue only what the central
// signed for this kiosk's topics.
func FuzzOnMessage(f *testing.F) {
	pub, sk, _ := ed25519.GenerateKey(nil)
	_, other, _ := ed25519.GenerateKey(nil)
	rc, _ := wire.Sign(sk, wire.TypeReceipt, wire.Receipt{PacketID: "p1", KioskID: "k-a", Status: wire.ReceiptFiled})
	pr, _ := wire.Sign(sk, wire.TypeProgress, wire.Progress{PacketID: "p1", KioskID: "k-a", Missing: []int{0, 3}})
	forged, _ := wire.Sign(other, wire.TypeReceipt, wire.Receipt{PacketID: "p1", KioskID: "k-a", Status: wire.ReceiptFiled})
	f.Add(wire.ReceiptTopic("k-a"), rc)
	f.Add(wire.ProgressTopic("k-a"), pr)
	f.Add(wire.ReceiptTopic("k-a"), pr)
	f.Add(wire.ReceiptTopic("k-a"), forged)
	f.Add(wire.CommandTopic("k-a"), rc)
	f.Add(wire.ReceiptTopic("k-a"), []byte(`{"type":"receipt","body":{},"sig":""}`))
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		u := New(Config{KioskID: "k-a", CentralKey: pub, Brokers: []string{"tcp://127.0.0.1:1"}})
		u.onMessage(nil, fakeMessage{topic, payload})
		if len(u.inbox) == 0 {
			return
		}
		in := <-u.inbox
		var typ string
		var sig []byte
		switch {
		case in.receipt != nil && topic == wire.ReceiptTopic("k-a"):
			typ = wire.TypeReceipt
		case in.progress != nil && topic == wire.ProgressTopic("k-a"):
			typ = wire.TypeProgress
		default:
			t.Fatalf("queued %+v from %s", in, topic)
		}
		s, err := wire.OpenSigned(payload, typ)
		if err != nil {
			t.Fatalf("queued a message that does not parse: %v", err)
		}
		sig = s.Sig
		if !ed25519.Verify(pub, append([]byte("einwurf/v1/"+typ+"\n"), s.Body...), sig) {
			t.Fatal("queued a message the central did not sign")
		}
	})
}

// A full queue drops (and counts) instead of blocking paho's goroutine.
func TestOnMessageNeverBlocks(t *testing.T) {
	pub, sk, _ := ed25519.GenerateKey(nil)
	rc, _ := wire.Sign(sk, wire.TypeReceipt, wire.Receipt{PacketID: "p1", KioskID: "k-a", Status: wire.ReceiptFiled})
	u := New(Config{KioskID: "k-a", CentralKey: pub, Brokers: []string{"tcp://127.0.0.1:1"}})
	n := cap(u.inbox) + 10
	for i := 0; i < n; i++ {
		u.onMessage(nil, fakeMessage{wire.ReceiptTopic("k-a"), rc})
	}
	if len(u.inbox) != cap(u.inbox) || u.Stats().Dropped != 10 {
		t.Fatalf("queue %d/%d, dropped %d", len(u.inbox), cap(u.inbox), u.Stats().Dropped)
	}
}

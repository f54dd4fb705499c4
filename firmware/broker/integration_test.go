package broker

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/einwurf/einwurf/wire"
)

func dial(t *testing.T, b *Broker, clientID, user, pass string) (mqtt.Client, error) {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID(clientID).
		SetUsername(user).SetPassword(pass).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second))
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatal("connect timed out")
	}
	if tok.Error() == nil {
		t.Cleanup(func() { c.Disconnect(50) })
	}
	return c, tok.Error()
}

// The embedded broker enforces what the production broker does: a kiosk
// must use its id as client id, publishes only under its own topics, and
// a message over 1 MiB does not cross.
func TestEmbeddedBrokerRules(t *testing.T) {
	users := map[string]string{CentralUser: "c", "k-a": "a", "k-b": "b"}
	b, err := Start(Options{Addr: "127.0.0.1:0", Users: users})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := dial(t, b, "k-b", "k-a", "a"); err == nil {
		t.Fatal("kiosk k-a connected with k-b's client id")
	}
	if _, err := dial(t, b, "k-a", "k-a", "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
	central, err := dial(t, b, "central-1", CentralUser, "c")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	central.Subscribe("#", 1, func(_ mqtt.Client, m mqtt.Message) {
		mu.Lock()
		got = append(got, m.Topic()+" "+string(m.Payload()[:min(4, len(m.Payload()))]))
		mu.Unlock()
	}).WaitTimeout(5 * time.Second)
	a, err := dial(t, b, "k-a", "k-a", "a")
	if err != nil {
		t.Fatal(err)
	}
	a.Publish(wire.EventTopic("k-a"), 1, false, []byte("own")).WaitTimeout(5 * time.Second)
	// Under another kiosk's topic: refused (mochi disconnects an MQTT
	// 3.1.1 client that does this).
	a.Publish(wire.EventTopic("k-b"), 1, false, []byte("forged")).WaitTimeout(2 * time.Second)
	// Too big: refused as well.
	a2, err := dial(t, b, "k-a", "k-a", "a")
	if err != nil {
		t.Fatal(err)
	}
	a2.Publish(wire.EventTopic("k-a"), 1, false, bytes.Repeat([]byte("big!"), (1<<20)/4+1024)).WaitTimeout(2 * time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		joined := strings.Join(got, "\n")
		mu.Unlock()
		if strings.Contains(joined, wire.EventTopic("k-a")+" own") {
			time.Sleep(300 * time.Millisecond)
			mu.Lock()
			joined = strings.Join(got, "\n")
			mu.Unlock()
			if strings.Contains(joined, "k-b") || strings.Contains(joined, "big!") {
				t.Fatalf("broker let through:\n%s", joined)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("own message not delivered; got:\n%s", joined)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FuzzAllowed: the ACL never lets a kiosk write outside its own tree, nor
// with wildcards, nor read outside the central's tree for it.
func FuzzAllowed(f *testing.F) {
	f.Add("k-a", "einwurf/v1/k/k-a/pkt/p/offer", true)
	f.Add("k-a", "einwurf/v1/c/k-a/#", false)
	f.Add("k-a", "einwurf/v1/k/k-a/../k-b/x", true)
	f.Add("k-a/", "einwurf/v1/k/k-a//x", true)
	f.Add("central", "#", false)
	f.Fuzz(func(t *testing.T, user, topic string, write bool) {
		if !Allowed(user, topic, write) || user == CentralUser {
			return
		}
		if !wire.ValidID(user) {
			t.Fatalf("invalid user %q allowed", user)
		}
		if write && (strings.ContainsAny(topic, "+#") || !strings.HasPrefix(topic, wire.KioskPrefix(user)+"/")) {
			t.Fatalf("%q may write %q", user, topic)
		}
		if !write && !strings.HasPrefix(topic, wire.CentralPrefix(user)+"/") {
			t.Fatalf("%q may read %q", user, topic)
		}
	})
}

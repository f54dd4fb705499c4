package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/crypto/argon2"

	"github.com/einwurf/einwurf/firmware/uplink/mosquittotest"

	"github.com/einwurf/einwurf/central/keys"
	"github.com/einwurf/einwurf/wire"
)

func TestStaffList(t *testing.T) {
	l, err := staffList(strings.NewReader("# staff\nbadge 12345678\n\npin 2 24681357\n"), 7)
	if err != nil {
		t.Fatal(err)
	}
	if l.Seq != 7 || len(l.Badges) != 1 || l.Badges[0] != wire.BadgeHash(l.Salt, "12345678") || len(l.PINs) != 1 {
		t.Fatalf("%+v", l)
	}
	p := l.PINs[0]
	if !bytes.Equal(argon2.IDKey([]byte("24681357"), p.Salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(p.Hash))), p.Hash) {
		t.Fatal("PIN hash does not verify")
	}
	// A bad line is refused without echoing it (it may hold a PIN).
	_, err = staffList(strings.NewReader("pin 1 12\n"), 1)
	if !errors.Is(err, errStaffInput) || strings.Contains(err.Error(), "12\"") {
		t.Fatalf("bad PIN: %v", err)
	}
	if _, err := staffList(strings.NewReader("badge 035F083761\n"), 1); !errors.Is(err, errStaffInput) {
		t.Fatalf("a customer number as a badge: %v", err)
	}
}

func TestBadgesSubcommand(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"keygen", "-keys", dir}, &out, &out); err != nil {
		t.Fatal(err)
	}
	c, err := keys.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, w, _ := os.Pipe()
	old := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = old }()
	w.WriteString("badge 99887766\n")
	w.Close()
	dst := filepath.Join(dir, "staff.json")
	if err := run(context.Background(), []string{"badges", "-keys", dir, "-seq", "4", "-out", dst}, &out, &out); err != nil {
		t.Fatal(err, out.String())
	}
	b, _ := os.ReadFile(dst)
	l, err := wire.OpenStaffList(c.Public().SignPub, b)
	if err != nil || l.Seq != 4 || len(l.Badges) != 1 {
		t.Fatalf("%+v %v", l, err)
	}
}

// TestStaffPush: "einwurf-central staff-push" sends the signed list over the
// documented broker, retained on each kiosk's staff-list topic, so a kiosk
// that connects later still gets it; the ACL lets a kiosk receive its own
// list only, and not publish one; a list this central did not sign is not
// sent.
func TestStaffPush(t *testing.T) {
	dir := t.TempDir()
	pki, b := mosquittotest.StartTest(t, filepath.Join(dir, "mqtt"))
	for _, id := range []string{"k-1", "k-2"} {
		if err := b.Enrol(id); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	keyDir := filepath.Join(dir, "keys")
	if err := run(context.Background(), []string{"keygen", "-keys", keyDir}, &out, &out); err != nil {
		t.Fatal(err)
	}
	c, err := keys.Load(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	l, err := staffList(strings.NewReader("badge 12345678\n"), 42)
	if err != nil {
		t.Fatal(err)
	}
	signed, _ := wire.SignStaffList(c.SignKey, l)
	listFile := filepath.Join(dir, "staff-list.json")
	os.WriteFile(listFile, signed, 0o644)
	central, key, err := pki.Issue(mosquittotest.CentralUser, false)
	if err != nil {
		t.Fatal(err)
	}
	push := func(list string) error {
		out.Reset()
		return run(context.Background(), []string{"staff-push", "-keys", keyDir, "-list", list, "-kiosk", "k-1",
			"-broker", b.CentralURL(), "-id", "staff-push-test", "-ca", pki.CAFile, "-cert", central, "-key", key}, &out, &out)
	}
	if err := push(listFile); err != nil {
		t.Fatalf("staff-push: %v\n%s\n%s", err, out.String(), b.Log())
	}
	// A list signed by another key is refused before anything is sent.
	_, other, _ := ed25519.GenerateKey(nil)
	forged, _ := wire.SignStaffList(other, l)
	forgedFile := filepath.Join(dir, "forged.json")
	os.WriteFile(forgedFile, forged, 0o644)
	if err := push(forgedFile); !errors.Is(err, wire.ErrSignature) {
		t.Fatalf("a foreign list was pushed: %v", err)
	}

	// The kiosk connects after the push and gets the list, retained.
	kiosk := func(id string) mqtt.Client {
		tc, err := pki.ClientTLS(id)
		if err != nil {
			t.Fatal(err)
		}
		cl := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID(id).SetTLSConfig(tc).
			SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second))
		if tok := cl.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
			t.Fatalf("connect %s: %v", id, tok.Error())
		}
		t.Cleanup(func() { cl.Disconnect(50) })
		return cl
	}
	got := make(chan []byte, 4)
	k1 := kiosk("k-1")
	sub := func(cl mqtt.Client, topic string) byte {
		tok := cl.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) { got <- m.Payload() })
		if !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe: %v", tok.Error())
		}
		return tok.(*mqtt.SubscribeToken).Result()[topic]
	}
	if q := sub(k1, wire.StaffListTopic("k-1")); q != 1 {
		t.Fatalf("k-1 may not subscribe to its staff list: %#x", q)
	}
	select {
	case m := <-got:
		if r, err := wire.OpenStaffList(c.SignKey.Public().(ed25519.PublicKey), m); err != nil || r.Seq != 42 {
			t.Fatalf("the retained list: %d %v", r.Seq, err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no retained staff list for k-1")
	}
	// Another kiosk cannot read k-1's list, and k-1 cannot publish one.
	if q := sub(kiosk("k-2"), wire.StaffListTopic("k-1")); q != 0x80 {
		t.Fatalf("k-2 subscribed to k-1's staff list: %#x", q)
	}
	k1.Publish(wire.StaffListTopic("k-1"), 1, true, forged).WaitTimeout(5 * time.Second)
	again := make(chan []byte, 1)
	// A fresh central client reads what the topic holds: still the list.
	tc, _ := pki.ClientTLS(mosquittotest.CentralUser)
	cc := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.CentralURL()).SetClientID("reader").SetTLSConfig(tc).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second))
	if tok := cc.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer cc.Disconnect(50)
	cc.Subscribe(wire.StaffListTopic("k-1"), 1, func(_ mqtt.Client, m mqtt.Message) { again <- m.Payload() }).WaitTimeout(15 * time.Second)
	select {
	case m := <-again:
		if !bytes.Equal(m, signed) {
			t.Fatal("a kiosk replaced its own staff list on the broker")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the retained list is gone")
	}
}

package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/einwurf/einwurf/firmware/uplink/mosquittotest"
)

// TestBrokerEnrol: on the documented broker a kiosk whose key is enrolled
// but who is not let in at the broker gets no subscription; after
// "einwurf-central broker-enrol" it gets its own topics (and still nothing
// else).
func TestBrokerEnrol(t *testing.T) {
	mosquittotest.Need(t)
	dir := t.TempDir()
	pki, err := mosquittotest.NewPKI(filepath.Join(dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := mosquittotest.Start(mosquittotest.Options{Dir: filepath.Join(dir, "broker"), PKI: pki})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	central, key, err := pki.Issue(mosquittotest.CentralUser, false)
	if err != nil {
		t.Fatal(err)
	}
	suback := func(filter string) byte {
		tc, err := pki.ClientTLS("k-new")
		if err != nil {
			t.Fatal(err)
		}
		c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("k-new").SetTLSConfig(tc).
			SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second))
		if tok := c.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
			t.Fatalf("connect: %v", tok.Error())
		}
		defer c.Disconnect(50)
		tok := c.Subscribe(filter, 1, func(mqtt.Client, mqtt.Message) {})
		if !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe: %v", tok.Error())
		}
		for _, q := range tok.(*mqtt.SubscribeToken).Result() {
			return q
		}
		return 0
	}
	if q := suback("einwurf/v1/c/k-new/#"); q != 0x80 {
		t.Fatalf("a kiosk not let in got its topics (%#x)", q)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"broker-enrol", "-kiosk", "k-new", "-broker", b.CentralURL(), "-id", "enrol-test",
		"-ca", pki.CAFile, "-cert", central, "-key", key}, &out, &out); err != nil {
		t.Fatalf("broker-enrol: %v\n%s\n%s", err, out.String(), b.Log())
	}
	if q := suback("einwurf/v1/c/k-new/#"); q != 1 {
		t.Fatalf("after broker-enrol the kiosk's own topics: %#x", q)
	}
	if q := suback("$share/ingest/einwurf/v1/k/+/pkt/#"); q != 0x80 {
		t.Fatalf("after broker-enrol the kiosk joins the ingest's group (%#x)", q)
	}
	if err := run(context.Background(), []string{"broker-enrol", "-kiosk", "K/1", "-broker", b.CentralURL(),
		"-ca", pki.CAFile, "-cert", central, "-key", key}, &out, &out); err == nil {
		t.Fatal("a malformed kiosk id was enrolled")
	}
}

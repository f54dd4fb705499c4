package config

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/einwurf/einwurf/wire"
)

func TestCheckKiosk(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	signPub, _, _ := ed25519.GenerateKey(nil)
	pub, _ := json.Marshal(wire.CentralKeys{AgeRecipient: id.Recipient().String(), SignPub: signPub})
	good := write("central.pub.json", string(pub))
	base := func() Config {
		c := Default()
		c.Board = "rpi4"
		c.MQTT = MQTT{Brokers: []string{"tcp://127.0.0.1:1883"}, CentralPub: good}
		return c
	}
	if r, err := base().CheckKiosk(); err != nil || r.Profile.Name != "rpi4" || r.TLS != nil {
		t.Fatalf("a good configuration: %+v %v", r, err)
	}
	withBadges := base()
	withBadges.Service.BadgeReader = "wiegand"
	if _, err := withBadges.CheckKiosk(); err != nil {
		t.Fatalf("a Wiegand badge reader on rpi4: %v", err)
	}
	for _, c := range []struct {
		name  string
		edit  func(*Config)
		field string
	}{
		{"no broker", func(c *Config) { c.MQTT.Brokers = nil }, "mqtt.brokers"},
		{"no central keys", func(c *Config) { c.MQTT.CentralPub = "" }, "mqtt.central_pub"},
		{"central keys missing", func(c *Config) { c.MQTT.CentralPub = filepath.Join(dir, "nope.json") }, "mqtt.central_pub"},
		{"central keys bad", func(c *Config) { c.MQTT.CentralPub = write("bad.json", `{"v":1}`) }, "mqtt.central_pub"},
		{"TLS without CA", func(c *Config) {
			c.MQTT.Brokers = []string{"tls://127.0.0.1:8883"}
			c.MQTT.ClientCert, c.MQTT.ClientKey = write("c.pem", "x"), write("k.pem", "x")
		}, "ca_cert"},
		{"CA not PEM", func(c *Config) {
			c.MQTT.CACert, c.MQTT.ClientCert, c.MQTT.ClientKey = write("ca.pem", "not pem"), write("c.pem", "x"), write("k.pem", "x")
		}, "mqtt.ca_cert"},
		{"unknown board", func(c *Config) { c.Board = "pdp11" }, "board"},
		{"bad kiosk id", func(c *Config) { c.KioskID = "KIOSK-1" }, "kiosk_id"},
		{"badge reader on a board without Wiegand lines", func(c *Config) {
			c.Service.BadgeReader = "wiegand"
			c.Board = write("nowiegand.json", `{"name":"nowiegand","chip":"gpiochip0","lines":{"service_key":{"offset":8}}}`)
		}, "service.badge_reader"},
	} {
		cfg := base()
		c.edit(&cfg)
		_, err := cfg.CheckKiosk()
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: %v (want ErrInvalid naming %s)", c.name, err, c.field)
		}
	}
}

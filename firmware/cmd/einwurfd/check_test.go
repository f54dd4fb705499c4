package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/einwurf/einwurf/central/keys"
	"github.com/einwurf/einwurf/firmware/config"
)

// TestBadConfigCreatesNothing: a bad configuration stops einwurfd with a
// message naming the field, before any folder or device key exists, both
// at start and with -check-config; a good one passes -check-config and
// still creates nothing.
func TestBadConfigCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	if _, err := keys.Generate(filepath.Join(dir, "central")); err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(dir, "central", "central.pub.json")
	cfgFile := func(name, body string) string {
		p := filepath.Join(dir, name+".json")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const scanner = `"scanner":{"url":"http://127.0.0.1:9/eSCL","resolution":300,"color":"RGB24"}`
	good := cfgFile("good", `{"board":"rpi4","kiosk_id":"k-0001",`+scanner+`,"mqtt":{"brokers":["tcp://127.0.0.1:9"],"central_pub":"`+pub+`"}}`)
	for _, c := range []struct{ name, body, want string }{
		{"upper-case kiosk id", `{"board":"rpi4","kiosk_id":"KIOSK-1",` + scanner + `,"mqtt":{"brokers":["tcp://127.0.0.1:9"],"central_pub":"` + pub + `"}}`, "kiosk_id"},
		{"path as kiosk id", `{"board":"rpi4","kiosk_id":"../../etc",` + scanner + `,"mqtt":{"brokers":["tcp://127.0.0.1:9"],"central_pub":"` + pub + `"}}`, "kiosk_id"},
		{"no central keys", `{"board":"rpi4",` + scanner + `,"mqtt":{"brokers":["tcp://127.0.0.1:9"]}}`, "central_pub"},
		{"central keys missing", `{"board":"rpi4",` + scanner + `,"mqtt":{"brokers":["tcp://127.0.0.1:9"],"central_pub":"/nonexistent/central.pub.json"}}`, "central_pub"},
		{"TLS without CA", `{"board":"rpi4",` + scanner + `,"mqtt":{"brokers":["tls://127.0.0.1:8883"],"client_cert":"c.pem","client_key":"k.pem","central_pub":"` + pub + `"}}`, "ca_cert"},
		{"CA missing", `{"board":"rpi4",` + scanner + `,"mqtt":{"brokers":["tls://127.0.0.1:8883"],"ca_cert":"/nonexistent/ca.pem","client_cert":"c.pem","client_key":"k.pem","central_pub":"` + pub + `"}}`, "ca_cert"},
		{"unknown board", `{"board":"pdp11",` + scanner + `,"mqtt":{"brokers":["tcp://127.0.0.1:9"],"central_pub":"` + pub + `"}}`, "board"},
		{"no broker", `{"board":"rpi4",` + scanner + `,"mqtt":{"central_pub":"` + pub + `"}}`, "brokers"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := cfgFile(strings.ReplaceAll(c.name, " ", "-"), c.body)
			data := filepath.Join(t.TempDir(), "data")
			for _, args := range [][]string{{"-config", path, "-data", data}, {"-check-config", path, "-data", data}} {
				var out bytes.Buffer
				err := run(context.Background(), args, &out, &out)
				if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
					t.Errorf("%v: %v (want an error naming %s)", args[0], err, c.want)
				}
				if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%v created %s before reporting the configuration", args[0], data)
				}
			}
		})
	}
	var out bytes.Buffer
	data := filepath.Join(t.TempDir(), "data")
	if err := run(context.Background(), []string{"-check-config", good, "-data", data}, &out, &out); err != nil ||
		!strings.Contains(out.String(), "ok: kiosk k-0001, board rpi4") {
		t.Fatalf("-check-config of a good file: %v\n%s", err, out.String())
	}
	if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("-check-config created the data folder")
	}
}

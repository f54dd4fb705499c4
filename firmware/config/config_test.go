package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	c, err := Parse([]byte(`{"listen":"127.0.0.1:9000","scanner":{"resolution":200,"color":"Grayscale8","duplex":false},
		"mqtt":{"brokers":["tls://broker:8883"],"ca_cert":"ca.pem","client_cert":"c.pem","client_key":"k.pem","central_pub":"c.json"},
		"idle_timeout":"90s"}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9000" || c.Scanner.Resolution != 200 || time.Duration(c.IdleTimeout) != 90*time.Second ||
		!c.RemoveBlank || c.Spool.AlarmFree != 128<<20 {
		t.Fatalf("%+v", c)
	}
	if _, err := Parse([]byte(`{}`)); err != nil {
		t.Fatalf("defaults: %v", err)
	}
}

func TestParseBad(t *testing.T) {
	for _, in := range []string{
		`{"listen":"0.0.0.0:8080"}`,
		`{"listen":"10.1.2.3:8080"}`,
		`{"lisen":"127.0.0.1:8080"}`,
		`{"scanner":{"resolution":301,"color":"RGB24"}}`,
		`{"scanner":{"resolution":300,"color":"CMYK"}}`,
		`{"mqtt":{"brokers":["tls://b:8883"]}}`,
		`{"mqtt":{"brokers":["http://b"]}}`,
		`{"idle_timeout":"1s"}`,
		`{"idle_timeout":"soon"}`,
		`{"spool":{"warn_free":1,"alarm_free":2}}`,
		`{} {}`,
		`{"reader":{"kind":"laser"}}`,
		`{"reader":{"kind":"imager","mode":"morse"}}`,
		`{"kiosk_id":"KIOSK-1"}`,
		`{"service":{"badge_reader":"imager"}}`,
		`{"service":{"waiting_warn":"10s"}}`,
		`{"service":{"waiting_warn":"-1h"}}`,
		`{"reader":{"kind":"wiegand"},"service":{"badge_reader":"wiegand"}}`,
		`{"kiosk_id":"../../etc"}`,
		`{"kiosk_id":"k/1"}`,
		`{"kiosk_id":"-k"}`,
		`{"board":""}`,
		`[`,
	} {
		if _, err := Parse([]byte(in)); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%s) = %v, want ErrInvalid", in, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"listen":"127.0.0.1:8080","scanner":{"resolution":300,"color":"RGB24"}}`))
	f.Add([]byte(`{"mqtt":{"brokers":["tcp://127.0.0.1:1883"]},"idle_timeout":"2m"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error without ErrInvalid: %v", err)
			}
			return
		}
		if c.Validate() != nil {
			t.Fatal("accepted a configuration that does not validate")
		}
	})
}

// A Wiegand badge reader next to the customers' imager is accepted.
func TestServiceBadgeReader(t *testing.T) {
	c, err := Parse([]byte(`{"service":{"badge_reader":"wiegand"}}`))
	if err != nil || c.Service.BadgeReader != "wiegand" || c.Reader.Kind != "imager" {
		t.Fatalf("%+v %v", c.Service, err)
	}
	if _, err := Parse([]byte(`{"reader":{"kind":"wiegand"},"service":{"badge_reader":"wiegand"}}`)); !errors.Is(err, ErrInvalid) ||
		!strings.Contains(err.Error(), "service.badge_reader") {
		t.Fatalf("two readers on the Wiegand lines: %v", err)
	}
}

func TestServiceWaitingWarn(t *testing.T) {
	c, err := Parse([]byte(`{"service":{"waiting_warn":"20m"}}`))
	if err != nil || time.Duration(c.Service.WaitingWarn) != 20*time.Minute {
		t.Fatalf("%+v %v", c.Service, err)
	}
}

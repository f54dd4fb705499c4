package config

import (
	"errors"
	"testing"
	"time"
)

func TestUpdateSection(t *testing.T) {
	c, err := Parse([]byte(`{"update": {"metadata_url": "https://central:8443/tuf/metadata/",
		"targets_url": "https://central:8443/tuf/targets/", "root": "/usr/share/einwurf/root.json",
		"window": "02:00-04:00", "health_deadline": "90s"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Update == nil || c.Update.Window != "02:00-04:00" || time.Duration(c.Update.HealthDeadline) != 90*time.Second {
		t.Fatalf("%+v", c.Update)
	}
	for _, bad := range []string{
		`{"update": {"metadata_url": "ftp://x/", "targets_url": "https://x/", "root": "r"}}`,
		`{"update": {"metadata_url": "https://x/", "targets_url": "", "root": "r"}}`,
		`{"update": {"metadata_url": "https://x/", "targets_url": "https://x/"}}`,
	} {
		if _, err := Parse([]byte(bad)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

func TestUpdateRootfsSection(t *testing.T) {
	const head = `{"update": {"metadata_url": "https://c/tuf/metadata/", "targets_url": "https://c/tuf/targets/", "root": "/r.json", "rootfs": `
	c, err := Parse([]byte(head + `{"slot_a": "/dev/vda2", "slot_b": "/dev/vda3"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Update.Rootfs.WithDefaults("/var/lib/einwurf")
	if r.SlotA != "/dev/vda2" || r.SlotB != "/dev/vda3" || r.FWEnvConfig != DefaultFWEnvConfig ||
		r.Cmdline != DefaultCmdline || r.VersionFile != DefaultVersionFile || r.Dir != "/var/lib/einwurf/rootfs-update" {
		t.Fatalf("%+v", r)
	}
	for _, bad := range []string{
		`{"slot_a": "/dev/vda2"}`,
		`{"slot_a": "/dev/vda2", "slot_b": "/dev/vda2"}`,
		`{"slot_a": "vda2", "slot_b": "/dev/vda3"}`,
		`{"slot_a": "/dev/vda2", "slot_b": "/dev/vda3", "fw_env_config": "fw_env.config"}`,
		`{"slot_a": "/dev/vda2", "slot_b": "/dev/vda3", "partition": "/dev/vda4"}`,
	} {
		if _, err := Parse([]byte(head + bad + `}}`)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

func TestUpdateTransport(t *testing.T) {
	c, err := Parse([]byte(`{"update": {"transport": "mqtt", "root": "/r.json"}}`))
	if err != nil || c.Update.Transport != "mqtt" {
		t.Fatalf("mqtt without URLs: %+v %v", c.Update, err)
	}
	for _, bad := range []string{
		`{"update": {"transport": "ftp", "metadata_url": "https://c/m/", "targets_url": "https://c/t/", "root": "/r"}}`,
		`{"update": {"transport": "http", "root": "/r"}}`,
		`{"update": {"root": "/r"}}`,
	} {
		if _, err := Parse([]byte(bad)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

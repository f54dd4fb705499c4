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

package config

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/einwurf/einwurf/drivers/scanner/escl"
)

// A site's scanner quirk rules come from the configuration, checked as
// they are read.
func TestScannerQuirks(t *testing.T) {
	var s Scanner
	if err := json.Unmarshal([]byte(`{"resolution":300,"color":"RGB24","quirks":[{"model_prefix":"Acme ","quirks":{"next_document_delay":"500ms","usb_max_interfaces":1}}]}`), &s); err != nil {
		t.Fatal(err)
	}
	if q := escl.QuirksOf(s.Quirks, escl.Identity{Model: "Acme 9"}); q.USBMaxInterfaces != 1 || q.NextDocumentDelay.String() != "500ms" {
		t.Fatalf("quirks %+v", q)
	}
	if err := json.Unmarshal([]byte(`{"quirks":[{"model":"x","quirks":{"nonsense":true}}]}`), &s); !errors.Is(err, escl.ErrQuirks) {
		t.Fatalf("bad quirk accepted: %v", err)
	}
}

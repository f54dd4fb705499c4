package escl_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/scanner/escl"
)

// Every quirk data file parses (KnownQuirks skips a broken one rather than
// stop the kiosk, so this is where a broken file shows).
func TestQuirkFiles(t *testing.T) {
	n := 0
	err := filepath.WalkDir("quirks", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rules, err := escl.ParseQuirkRules(data)
		if err != nil {
			t.Errorf("%s: %v", path, err)
		}
		for _, r := range rules {
			if r.Source == "" {
				t.Errorf("%s: rule %+v names no source", path, r)
			}
		}
		n += len(rules)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(escl.KnownQuirks()); got != n || n < 15 {
		t.Errorf("KnownQuirks has %d rules, the files %d", got, n)
	}
}

// The rules checked against sane-airscan and ipp-usb again.
func TestQuirksOf(t *testing.T) {
	rules := escl.KnownQuirks()
	for _, tc := range []struct {
		id   escl.Identity
		want escl.Quirks
	}{
		{escl.Identity{Model: "WorkCentre 3345"}, escl.Quirks{PrecheckFeeder: true, RetryOn410: true}},
		{escl.Identity{Model: "Brother DCP-L2550DW series"}, escl.Quirks{NextDocumentDelay: time.Second}},
		{escl.Identity{Model: "Brother MFC-L2710DW series"}, escl.Quirks{NextDocumentDelay: time.Second}},
		{escl.Identity{Model: "Brother QL-810W"}, escl.Quirks{NextDocumentDelay: time.Second, USBMaxInterfaces: 1}},
		{escl.Identity{Model: "Brotherhood 1"}, escl.Quirks{}},
		{escl.Identity{Model: "B215"}, escl.Quirks{RetryOn404: true, RetryOn410: true}},
		{escl.Identity{Model: "B215", USB: "0924:42E9"}, escl.Quirks{RetryOn404: true, RetryOn410: true, USBResetAtOpen: true}},
		{escl.Identity{USB: "0924:42e8"}, escl.Quirks{USBResetAtOpen: true}},
		{escl.Identity{Model: "HP ScanJet Pro 4500 fn1"}, escl.Quirks{USBMaxInterfaces: 1}},
		{escl.Identity{Model: "Canon iR2625/2630"}, escl.Quirks{MaxResolution: 300}},
	} {
		if got := escl.QuirksOf(rules, tc.id); got != tc.want {
			t.Errorf("QuirksOf(%+v) = %+v, want %+v", tc.id, got, tc.want)
		}
	}
}

// A kiosk's configuration adds rules after the known ones; one with
// Replace switches a known quirk off.
func TestQuirkOverride(t *testing.T) {
	extra, err := escl.ParseQuirkRules([]byte(`[
		{"model_prefix": "Brother ", "replace": true, "quirks": {}, "source": "site test: no delay"},
		{"server": "Acme/1.0", "quirks": {"retries_503": 50, "next_document_delay": "250ms"}}]`))
	if err != nil {
		t.Fatal(err)
	}
	rules := append(escl.KnownQuirks(), extra...)
	if q := escl.QuirksOf(rules, escl.Identity{Model: "Brother MFC-L2710DW"}); q != (escl.Quirks{}) {
		t.Errorf("replaced: %+v", q)
	}
	if q := escl.QuirksOf(rules, escl.Identity{Model: "Acme", Server: "Acme/1.0"}); q != (escl.Quirks{Retries503: 50, NextDocumentDelay: 250 * time.Millisecond}) {
		t.Errorf("added: %+v", q)
	}
	for _, bad := range []string{``, `{}`, `[{}]`, `[{"model":"x","quirks":{"bogus":true}}]`, `[{"usb":"12:34","quirks":{}}]`,
		`[{"model":"x","quirks":{"next_document_delay":"soon"}}]`, `[{"model":"x","quirks":{"max_resolution":-1}}]`, `[{"model":"x","colour":1}]`} {
		if _, err := escl.ParseQuirkRules([]byte(bad)); !errors.Is(err, escl.ErrQuirks) {
			t.Errorf("%q: %v, want ErrQuirks", bad, err)
		}
	}
}

// FuzzParseQuirkRules: rules from a kiosk's configuration are refused with
// ErrQuirks or are usable: each matches on something, and a second parse
// of what they marshal to gives the same rules.
func FuzzParseQuirkRules(f *testing.F) {
	for _, name := range []string{"brother", "hp", "xerox"} {
		if data, err := os.ReadFile(filepath.Join("quirks", name+".json")); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(`[{"usb":"0924:42e8","replace":true,"quirks":{"usb_reset_at_open":true}}]`))
	f.Add([]byte(`[{"model":"x","quirks":{"next_document_delay":"1.5s","max_resolution":300}}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rules, err := escl.ParseQuirkRules(data)
		if err != nil {
			if !errors.Is(err, escl.ErrQuirks) {
				t.Fatalf("error not ErrQuirks: %v", err)
			}
			return
		}
		for _, r := range rules {
			if r.Check() != nil {
				t.Fatalf("accepted %+v", r)
			}
		}
		out, err := json.Marshal(rules)
		if err != nil {
			t.Fatal(err)
		}
		again, err := escl.ParseQuirkRules(out)
		if err != nil || len(again) != len(rules) {
			t.Fatalf("round trip: %v", err)
		}
		for i := range rules {
			if again[i] != rules[i] {
				t.Fatalf("round trip changed rule %d: %+v → %+v", i, rules[i], again[i])
			}
		}
	})
}

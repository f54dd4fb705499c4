package service

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/barcode"
)

// TestReaderDevice: the reader's line has a light and one sentence for
// its health, and the last read after it; every sentence and every reason
// a reader reports is worded in German and English.
func TestReaderDevice(t *testing.T) {
	last := &LastRead{At: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC), Symbology: "Code128", Length: 10}
	for _, c := range []struct {
		h      barcode.Health
		known  bool
		last   *LastRead
		light  Light
		key    string
		reason string
		more   string
	}{
		{barcode.Health{}, false, nil, Yellow, "dev.reader.unknown", "", "dev.reader.none"},
		{barcode.Health{State: barcode.StateOK, Reason: barcode.ReasonAnswered, Asked: true}, true, last, Green, "dev.reader.ok", "", "dev.reader.last"},
		{barcode.Health{State: barcode.StateOK, Reason: barcode.ReasonPortOpen}, true, nil, Green, "dev.reader.ok-unasked", "", "dev.reader.none"},
		{barcode.Health{State: barcode.StateOffline, Reason: barcode.ReasonNoAnswer, Asked: true}, true, last, Red, "dev.reader.offline", "no-answer", "dev.reader.last"},
		{barcode.Health{State: barcode.StateAbsent, Reason: barcode.ReasonGone}, true, nil, Red, "dev.reader.absent", "gone", "dev.reader.none"},
		{barcode.Health{State: barcode.StateFault, Reason: barcode.ReasonBadFrames}, true, nil, Red, "dev.reader.fault", "bad-frames", "dev.reader.none"},
		{barcode.Health{State: "melted"}, true, nil, Yellow, "dev.reader.unknown", "", "dev.reader.none"},
	} {
		d := ReaderDevice(c.h, c.known, c.last)
		if d.ID != "reader" || d.Light != c.light || d.Key != c.key || d.Args["error"] != c.reason || d.More != c.more {
			t.Errorf("%+v known=%v: %+v", c.h, c.known, d)
		}
	}
	keys := []string{"dev.reader.ok", "dev.reader.ok-unasked", "dev.reader.offline", "dev.reader.absent", "dev.reader.fault",
		"dev.reader.unknown", "dev.reader.none", "dev.reader.last"}
	for _, r := range []string{barcode.ReasonNoAnswer, barcode.ReasonPortError, barcode.ReasonLineError, barcode.ReasonGone,
		barcode.ReasonClosed, barcode.ReasonBadFrames, barcode.ReasonSimulated} {
		keys = append(keys, "err."+r)
	}
	for _, lang := range []string{"de", "en"} {
		b, err := assets.ReadFile("assets/i18n/" + lang + ".json")
		if err != nil {
			t.Fatal(err)
		}
		var cat map[string]string
		if err := json.Unmarshal(b, &cat); err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if v := cat[k]; v == "" {
				t.Errorf("%s: %s not worded", lang, k)
			} else if strings.HasPrefix(k, "dev.reader.") && k != "dev.reader.ok" && k != "dev.reader.unknown" && k != "dev.reader.none" &&
				k != "dev.reader.ok-unasked" && k != "dev.reader.last" && !strings.Contains(v, "{error}") {
				t.Errorf("%s: %s does not name the reason: %q", lang, k, v)
			}
		}
	}
}

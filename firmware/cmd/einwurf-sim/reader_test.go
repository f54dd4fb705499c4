package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/einwurf/einwurf/wire"
)

// TestReaderDeadAlarmed: the simulation kills the customers' barcode
// reader; the kiosk keeps taking customers (the keypad works) but its
// screen points to the keypad, the central gets the reader.offline alarm
// and telemetry's reader state; the reader back clears the alarm.
func TestReaderDeadAlarmed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s, err := startSim(ctx, flags{demo: true, data: t.TempDir(), deviceInterval: 100 * time.Millisecond}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, id := s.dashboard.Store, s.app().KioskID
	readerDown := func() bool {
		r, err := http.Get(s.app().UIURL + "api/view")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		var v struct {
			ReaderDown bool   `json:"reader_down"`
			NotReady   string `json:"not_ready"`
		}
		if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
			t.Fatal(err)
		}
		if v.NotReady != "" {
			t.Fatalf("a dead reader took the kiosk out of service: %+v", v)
		}
		return v.ReaderDown
	}
	openReaderAlarm := func() string {
		as, err := st.Alarms(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range as {
			if a.KioskID == id && strings.HasPrefix(a.Code, "reader.") && a.Cleared.IsZero() {
				return a.Code + " " + a.Detail
			}
		}
		return ""
	}
	telemetryReader := func() string {
		k, err := st.Kiosk(ctx, id)
		if err != nil {
			return ""
		}
		var tm wire.Telemetry
		_ = json.Unmarshal(k.Telemetry, &tm)
		return tm.Reader
	}
	// Telemetry goes out every 30 s: the first one may come before the
	// reader was first asked.
	waitUntil(t, 90*time.Second, "telemetry with the reader ok", func() bool { return telemetryReader() == "ok" })
	if readerDown() || openReaderAlarm() != "" {
		t.Fatal("reader down at start")
	}
	if r, err := http.Post(s.app().UIURL+"sim/api/reader", "application/json", strings.NewReader(`{"state":"melted"}`)); err != nil || r.StatusCode != http.StatusBadRequest {
		t.Fatalf("an unknown state: %v %v", r.Status, err)
	}
	postJSON(t, s.app().UIURL+"sim/api/reader", `{"state":"offline","reason":"no-answer"}`)
	waitUntil(t, 30*time.Second, "the reader.offline alarm at the central", func() bool { return openReaderAlarm() == "reader.offline no-answer" })
	if !readerDown() {
		t.Fatal("the customer's screen does not know the reader is down")
	}
	waitUntil(t, 90*time.Second, "telemetry with the reader offline", func() bool { return telemetryReader() == "offline" })
	postJSON(t, s.app().UIURL+"sim/api/reader", `{"state":"ok"}`)
	waitUntil(t, 30*time.Second, "the alarm cleared", func() bool { return openReaderAlarm() == "" })
	waitUntil(t, 10*time.Second, "the screen's invitation back", func() bool { return !readerDown() })
}

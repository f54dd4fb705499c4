package monitor

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/einwurf/einwurf/wire"
)

// TestReaderState: the reader's state from telemetry shows in the fleet
// table's device column and on the kiosk's page with the traffic light of
// the scanner and printer beside it (a dot of its colour and the state's
// word); a state the kiosk did not report is "–"; a state this dashboard
// does not know is yellow; a state's text is escaped; /metrics has it as
// einwurf_kiosk_device_ok.
func TestReaderState(t *testing.T) {
	f := newFixture(t)
	base := f.serve()
	f.account("vera", RoleViewer)
	must(t, f.handle(wire.TelemetryTopic("k-1"), wire.Telemetry{KioskID: "k-1", Time: f.now(), Scanner: "ok",
		Printer: "paper-low", Reader: "offline"}))
	must(t, f.handle(wire.TelemetryTopic("k-2"), wire.Telemetry{KioskID: "k-2", Time: f.now(), Scanner: "jam", Reader: "<b>new</b>"}))
	b := newBrowser(t, base)
	b.login("vera", "a long enough password")
	_, body := b.get("/?col=devices")
	for id, want := range map[string]string{
		"k-1": `<span class="dev dev-green">ok</span> / <span class="dev dev-yellow">paper-low</span> / <span class="dev dev-red">offline</span>`,
		"k-2": `<span class="dev dev-red">jam</span> / – / <span class="dev dev-yellow">&lt;b&gt;new&lt;/b&gt;</span>`,
	} {
		if row := between(body, `id="k-`+id+`"`, "</tr>"); !strings.Contains(row, want) {
			t.Errorf("fleet row of %s lacks %q:\n%s", id, want, row)
		}
	}
	if _, page := b.get("/kiosk/k-1"); !strings.Contains(page, `<span class="dev dev-red">offline</span>`) {
		t.Errorf("the kiosk page lacks the reader's state:\n%s", between(page, "Scanner / printer / reader", "</dd>"))
	}
	// Prometheus can alert on it: 1 for ok, 0 for any other state, no
	// series for a state the kiosk did not report.
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`einwurf_kiosk_device_ok{device="reader",kiosk="k-1",site=""} 0`,
		`einwurf_kiosk_device_ok{device="scanner",kiosk="k-1",site=""} 1`, `einwurf_kiosk_device_ok{device="printer",kiosk="k-1",site=""} 0`,
		`einwurf_kiosk_device_ok{device="scanner",kiosk="k-2",site=""} 0`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(string(metrics), `einwurf_kiosk_device_ok{device="printer",kiosk="k-2"`) {
		t.Error("a series for a state k-2 did not report")
	}
	for state, light := range map[string]string{"ok": "green", "absent": "red", "offline": "red", "fault": "red", "paper-low": "yellow", "busy": "yellow"} {
		if got := string(devState(state)); !strings.Contains(got, "dev-"+light) {
			t.Errorf("%s: %s, want %s", state, got, light)
		}
	}
}

// TestReaderAlarm: the kiosk's reader.offline alarm opens an alarm the
// alarms page lists; reader.ok clears it (and only the reader's); the
// scanner's scanner.back clears its scanner.absent the same way.
func TestReaderAlarm(t *testing.T) {
	f := newFixture(t)
	base := f.serve()
	f.account("olga", RoleOperator)
	ev := func(sev, code, detail string) {
		t.Helper()
		must(t, f.handle(wire.EventTopic("k-1"), wire.Event{KioskID: "k-1", Time: f.now(), Severity: sev, Code: code, Detail: detail}))
	}
	ev(wire.SeverityAlarm, "reader.offline", "no-answer")
	ev(wire.SeverityAlarm, "scanner.absent", "unplugged")
	ev(wire.SeverityAlarm, "tamper", "")
	if as := f.openAlarms(); len(as) != 3 {
		t.Fatalf("alarms %+v", as)
	}
	b := newBrowser(t, base)
	b.login("olga", "a long enough password")
	if _, page := b.get("/alarms"); !strings.Contains(page, "reader.offline") || !strings.Contains(page, "no-answer") {
		t.Errorf("the alarms page lacks the reader's alarm:\n%s", page)
	}
	ev(wire.SeverityInfo, "reader.ok", "")
	as := f.openAlarms()
	if len(as) != 2 {
		t.Fatalf("reader.ok left %+v", as)
	}
	for _, a := range as {
		if strings.HasPrefix(a.Code, "reader.") {
			t.Fatalf("reader.ok did not clear %+v", a)
		}
	}
	ev(wire.SeverityInfo, "scanner.back", "")
	if as := f.openAlarms(); len(as) != 1 || as[0].Code != "tamper" {
		t.Fatalf("scanner.back left %+v", as)
	}
}

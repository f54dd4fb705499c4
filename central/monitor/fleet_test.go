package monitor

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/einwurf/einwurf/wire"
)

// headers returns the fleet table's column headings in order.
func headers(body string) []string {
	var out []string
	thead := between(body, "<thead>", "</thead>")
	for _, part := range strings.Split(thead, `<th scope="col" class="c-`)[1:] {
		out = append(out, part[:strings.IndexByte(part, '"')])
	}
	return out
}

// TestFleetColumns: the fleet table shows a default set of columns, the
// kiosk's name first; the chooser's ?col= shows others (the name always),
// unknown ones are ignored, and the sort links keep the choice.
func TestFleetColumns(t *testing.T) {
	f := newFixture(t)
	base := f.serve()
	f.account("vera", RoleViewer)
	must(t, f.handle(wire.StatusTopic("k-1"), wire.Status{KioskID: "k-1", Online: true}))
	b := newBrowser(t, base)
	b.login("vera", "a long enough password")

	_, body := b.get("/")
	want := "name site status seen version waiting delivery devices consumables"
	if got := strings.Join(headers(body), " "); got != want {
		t.Fatalf("default columns %q, want %q", got, want)
	}
	_, body = b.get("/?col=temp&col=faults&col=nonsense&col=name&sort=temp")
	if got := strings.Join(headers(body), " "); got != "name faults temp" {
		t.Fatalf("chosen columns %q", got)
	}
	if !strings.Contains(body, `href="/?col=faults&amp;col=temp&amp;sort=name"`) {
		t.Fatalf("sort links lose the choice of columns: %s", between(body, "<thead>", "</thead>"))
	}
	// The live rows follow the same choice.
	_, rows := b.get("/fleet/rows?col=temp")
	if strings.Count(rows, "<td") != 1 || !strings.Contains(rows, `<th scope="row" class="c-name">`) {
		t.Fatalf("rows for ?col=temp: %s", rows)
	}
}

// TestCountersAndConsumables: a telemetry message carrying the service
// mode's counters, consumables and the printer's and reader's states shows
// them in the fleet table and on the kiosk's page; a "last seen" time is a
// <time> element the page keeps current.
func TestCountersAndConsumables(t *testing.T) {
	f := newFixture(t)
	base := f.serve()
	f.account("vera", RoleViewer)
	must(t, f.handle(wire.TelemetryTopic("k-1"), wire.Telemetry{KioskID: "k-1", Time: f.now(), Scanner: "ok",
		Printer: "paper-low", Reader: "offline",
		Consumables: map[string]string{"feed-roller": "replace", "paper": "low"},
		Counters:    map[string]int64{"pages": 1234, "jams": 7, "double-feeds": 2, "feed-roller.since": 90210}}))
	f.advance(3 * time.Minute)
	b := newBrowser(t, base)
	b.login("vera", "a long enough password")

	_, body := b.get("/?" + url.Values{"col": {"devices", "consumables", "faults", "seen"}}.Encode())
	row := between(body, `id="k-k-1"`, "</tr>")
	for _, want := range []string{`<span class="dev dev-green">ok</span> / <span class="dev dev-yellow">paper-low</span> / <span class="dev dev-red">offline</span>`, `feed-roller: <span class="cons-replace">replace</span>`,
		`paper: <span class="cons-low">low</span>`, "7 jams, 2 double feeds", `data-ago>3 min ago</time>`} {
		if !strings.Contains(row, want) {
			t.Errorf("fleet row lacks %q:\n%s", want, row)
		}
	}
	_, page := b.get("/kiosk/k-1")
	counters := between(page, `id="counters"`, "</table>")
	for _, want := range []string{`<th scope="row">pages</th><td class="num">1234</td>`, `<th scope="row">jams</th><td class="num">7</td>`,
		`<th scope="row">feed-roller.since</th><td class="num">90210</td>`} {
		if !strings.Contains(counters, want) {
			t.Errorf("kiosk page's counters lack %q:\n%s", want, counters)
		}
	}
	if !strings.Contains(page, `data-live="fleet events commands"`) || !strings.Contains(page, `data-refresh="/kiosk/k-1/facts"`) {
		t.Error("the kiosk page does not follow the kiosk live")
	}
	// Its live parts are served, and need a login.
	if code, facts := b.get("/kiosk/k-1/facts"); code != 200 || !strings.Contains(facts, "paper-low") {
		t.Errorf("facts part: %d %s", code, facts)
	}
	if code, _ := newBrowser(t, base).get("/kiosk/k-1/facts"); code != 401 {
		t.Errorf("facts part without a login: %d", code)
	}
	if code, _ := b.get("/kiosk/k-9/events"); code != 404 {
		t.Errorf("events of an unknown kiosk: %d", code)
	}
}

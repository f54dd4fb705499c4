package monitor

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/einwurf/einwurf/wire"
)

// TestGrafanaDashboard checks that docs/grafana/einwurf-fleet.json is a
// dashboard whose every query names only metrics /metrics exposes.
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("../../docs/grafana/einwurf-fleet.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil || d.Title == "" || len(d.Panels) < 10 {
		t.Fatalf("dashboard: %v (%d panels)", err, len(d.Panels))
	}
	f := newFixture(t)
	must(t, f.handle(wire.TelemetryTopic("k-1"), wire.Telemetry{KioskID: "k-1", SpoolEntries: 1, Oldest: f.now().Add(-time.Minute), TempMilliC: 40000}))
	must(t, f.handle(wire.EventTopic("k-1"), wire.Event{KioskID: "k-1", Severity: wire.SeverityAlarm, Code: "tamper"}))
	f.m.Send(t.Context(), "ada", []string{"k-1"}, wire.CmdReboot, nil)
	resp, err := http.Get(f.serve() + "/metrics")
	must(t, err)
	defer resp.Body.Close()
	scrape, _ := io.ReadAll(resp.Body)
	exposed := map[string]bool{}
	for _, line := range strings.Split(string(scrape), "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			exposed[strings.Fields(name)[0]] = true
		}
	}
	re := regexp.MustCompile(`einwurf_[a-z_]+`)
	used := 0
	check := func(where, expr string) {
		for _, m := range re.FindAllString(expr, -1) {
			used++
			if !exposed[m] {
				t.Errorf("%s: %s is not a metric the monitor exposes", where, m)
			}
		}
	}
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			check(p.Title, tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		check("variable", v.Definition)
	}
	if used < 15 {
		t.Fatalf("only %d metric uses found", used)
	}
}

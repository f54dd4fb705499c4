package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/einwurf/einwurf/internal/testtool"
	"github.com/einwurf/einwurf/kiosk/service"
	"github.com/einwurf/einwurf/kiosk/session"
)

// TestServiceModeInChromium walks service mode on the kiosk's screen as a
// caretaker does: the key turned during a customer's visit (its pages
// wiped, with a message), a wrong PIN, the staff badge from the
// simulation page, every device's line in German and English, a test
// read, a test print, a jam and its guided fix ending in a test scan, the
// scanner switched off, counters and wear parts, a support bundle on the
// USB folder (with nothing of the customer in it), a restart that keeps
// the counters, out of service with a reason and back. Every staff action
// reaches the central as an event naming a badge hash or PIN slot. Every
// page passes axe-core's WCAG 2.1 AA rules; screenshots go to
// $EINWURF_SCREENSHOTS/service.
func TestServiceModeInChromium(t *testing.T) {
	browser := testtool.NeedTool(t, "chromium")
	axe := testtool.AxeSource(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	const number = "035F083761"
	s, err := startSim(ctx, flags{demo: true, data: dir, code: number}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	ev := watchEvents(t, s)
	b := &dashTab{t: t, ctx: chromium(t, ctx, browser, 1100, 1000), axe: axe, shots: testtool.ShotDir(t, "service")}
	// b.poll rides out the page navigating (the customer screen leaving
	// for /service/ and back): chromium.Tab.Until.
	poll := b.poll
	click := func(what, sel string) {
		t.Helper()
		if got := b.eval(`(() => { const e = document.querySelector(` + jsString(sel) + `); if (!e) return "none"; e.click(); return "ok"; })()`); got != "ok" {
			t.Fatalf("%s: no %s on the page", what, sel)
		}
	}
	board := func(signal string, on bool) {
		t.Helper()
		postJSON(t, s.app().UIURL+"sim/api/board", fmt.Sprintf(`{"signal":%q,"asserted":%v}`, signal, on))
		if signal != "service_key" || !on {
			return
		}
		// The panel debounces the key: a badge counts once it took effect.
		testtool.WaitFor(t, 60*time.Second, "service mode after the key", func() bool { return getView(t, s).Service })
	}
	scannerFault := func(fault string, sheet int) {
		t.Helper()
		postJSON(t, s.app().UIURL+"sim/api/scanner", fmt.Sprintf(`{"fault":%q,"sheet":%d}`, fault, sheet))
	}

	// One whole visit first: it fills the counters and the filed PDF's
	// bytes are what the support bundle must not hold.
	pdf, err := s.demo(ctx, number)
	if err != nil {
		t.Fatal(err)
	}
	pdfBytes, err := os.ReadFile(pdf)
	if err != nil {
		t.Fatal(err)
	}

	// A second customer is mid-visit on the kiosk's screen when the
	// caretaker turns the key: the visit is ended, its pages wiped, and the
	// screen (now the staff's) says so.
	if err := s.app().Kiosk.Identify(number); err != nil {
		t.Fatal(err)
	}
	if err := s.app().Kiosk.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	b.do("open the customer's screen", chromedp.Navigate(strings.TrimSuffix(s.app().UIURL, "/")+s.app().UILaunch()))
	poll("review screen", `document.readyState === "complete"`, 60*time.Second)
	board("service_key", true)
	poll("the screen goes to service mode", `location.pathname === "/service/" && !document.getElementById("locked").hidden`, 30*time.Second)
	poll("wiped message", `!document.getElementById("wiped").hidden`, 60*time.Second)
	if st := s.app().Kiosk.View().State; st != session.Idle {
		t.Fatalf("visit still %s after the key", st)
	}
	ev.wait("service.visit-wiped")
	b.axeCheck("login")
	b.shot("01-login-visit-wiped.png")

	// A wrong PIN is refused (slowly hashed, counted towards the lock).
	b.do("wrong PIN", chromedp.SendKeys(chromedp.ID("pin"), "000000"))
	click("log in", `#pinform button[type="submit"]`)
	poll("PIN refused", `document.getElementById("pinerror").textContent.includes("falsch")`, 60*time.Second)
	b.shot("02-wrong-pin.png")
	if e := ev.wait("service.login"); !strings.Contains(e, "who=pin") || !strings.Contains(e, "not-staff") {
		t.Fatalf("failed login event %s", e)
	}

	// The staff badge, held to the reader from the simulation page.
	b.do("simulation page", chromedp.Navigate(s.app().UIURL+"sim/scanner"), chromedp.WaitVisible(chromedp.ID("badge-read")))
	b.shot("03-sim-board-controls.png")
	click("read the badge", "#badge-read")
	poll("badge read", `document.getElementById("board-state").textContent.includes("✓")`, 60*time.Second)
	login := ev.wait("service.login")
	if !strings.Contains(login, "who=badge:") || !strings.Contains(login, "result=ok") || strings.Contains(login, simBadge) {
		t.Fatalf("login event %s", login)
	}
	b.do("service screen", chromedp.Navigate(s.app().UIURL+"service/"))
	poll("logged in, devices listed", `!document.getElementById("open").hidden && document.querySelectorAll("#devices li").length === 8`, 30*time.Second)
	for _, id := range []string{"scanner", "reader", "printer", "uplink", "disk", "temperature", "watchdog", "version"} {
		light := b.eval(`(() => { const e = document.querySelector('[data-device="` + id + `"] .light'); return e ? e.className : "none"; })()`)
		if !strings.Contains(light, "green") && !strings.Contains(light, "yellow") {
			t.Errorf("device %s: light %q", id, light)
		}
		if line := b.eval(`document.querySelector('[data-device="` + id + `"]').innerText`); strings.Contains(line, "dev.") || strings.Contains(line, "{") {
			t.Errorf("device %s: line %q not worded", id, line)
		}
	}
	if line := b.eval(`document.querySelector('[data-device="scanner"]').innerText`); !strings.Contains(line, "bereit") {
		t.Errorf("scanner line %q", line)
	}
	if line := b.eval(`document.querySelector('[data-device="uplink"]').innerText`); !strings.Contains(line, "Verbunden mit 127.0.0.1") {
		t.Errorf("uplink line %q", line)
	}
	b.axeCheck("devices")
	b.shot("04-devices-de.png")
	click("English", `[data-lang="en"]`)
	poll("English", `document.querySelector('[data-device="scanner"]').innerText.includes("ready")`, 60*time.Second)
	b.shot("05-devices-en.png")
	click("Deutsch", `[data-lang="de"]`)
	poll("German", `document.querySelector('[data-device="scanner"]').innerText.includes("bereit")`, 60*time.Second)

	// A dead barcode reader: its line turns red with its sentence; back,
	// green again.
	readerLight := `document.querySelector('[data-device="reader"] .light').className`
	postJSON(t, s.app().UIURL+"sim/api/reader", `{"state":"offline","reason":"no-answer"}`)
	poll("reader line red", readerLight+`.includes("red")`, 60*time.Second)
	if line := b.eval(`document.querySelector('[data-device="reader"]').innerText`); strings.Contains(line, "dev.") || strings.Contains(line, "{") {
		t.Errorf("dead reader's line %q not worded", line)
	}
	b.axeCheck("devices, reader offline")
	b.shot("05b-devices-reader-offline-de.png")
	postJSON(t, s.app().UIURL+"sim/api/reader", `{"state":"ok"}`)
	poll("reader line green again", readerLight+`.includes("green")`, 60*time.Second)

	// Test read: the code is taken as a test, never as a customer's visit,
	// and only its kind and length are shown.
	click("test read", "#testread")
	poll("hold a code", `document.getElementById("message").textContent.includes("Code unter den Leser")`, 60*time.Second)
	if err := s.reader.Inject(number); err != nil {
		t.Fatal(err)
	}
	poll("code read", `document.getElementById("message").textContent.includes("Der Leser funktioniert") &&
		document.querySelector('[data-device="reader"]').innerText.includes("10 Zeichen")`, 60*time.Second)
	if body := b.eval(`document.body.innerText`); strings.Contains(body, number) || strings.Contains(body, "083761") {
		t.Fatal("the service screen shows the code read")
	}
	if st := s.app().Kiosk.View().State; st != session.Idle {
		t.Fatalf("a code read in service mode started a visit: %s", st)
	}
	b.shot("06-test-read.png")

	// Test print.
	receipts := s.counters(t)[service.CountReceipts]
	click("test print", "#testprint")
	poll("printed", `document.getElementById("message").textContent.includes("Testdruck gelungen")`, 60*time.Second)
	if got := s.counters(t)[service.CountReceipts]; got != receipts+1 {
		t.Errorf("receipts %d → %d", receipts, got)
	}

	// A jam: the test scan fails with it; the guided fix (three steps with
	// pictures) ends in a test scan that proves it cleared.
	jams := s.counters(t)[service.CountJams]
	scannerFault("jam", 1)
	click("test scan", "#testscan")
	poll("jam reported", `document.getElementById("message").textContent.includes("Papierstau")`, 60*time.Second)
	b.shot("07-test-scan-jam.png")
	if got := s.counters(t)[service.CountJams]; got != jams+1 {
		t.Errorf("jams %d → %d", jams, got)
	}
	click("fixes", `[data-tab="fixes"]`)
	click("jam fix", `[data-fix="jam"]`)
	for step := 1; step <= 3; step++ {
		poll(fmt.Sprintf("step %d", step), fmt.Sprintf(`document.getElementById("stepno").textContent === "Schritt %d von 3" &&
			document.querySelector("#picture svg") !== null`, step), 60*time.Second)
		if step == 1 {
			b.axeCheck("guided fix")
		}
		b.shot(fmt.Sprintf("08-jam-fix-step%d.png", step))
		if step < 3 {
			click("next", "#nextstep")
		}
	}
	scannerFault("clear", 0) // the caretaker pulled the sheet out and put paper in
	pages := s.counters(t)[service.CountPages]
	click("test scan ends the fix", "#fixtest")
	poll("test scan passed", `document.getElementById("message").textContent.includes("Testscan gelungen")`, 60*time.Second)
	b.shot("09-jam-fixed-test-scan.png")
	if got := s.counters(t)[service.CountPages]; got <= pages {
		t.Errorf("pages %d → %d after the test scan", pages, got)
	}

	// The scanner switched off: its line goes red, nothing resets.
	postJSON(t, s.app().UIURL+"sim/api/scanner/power", `{"on":false}`)
	click("devices", `[data-tab="devices"]`)
	poll("scanner red", `document.querySelector('[data-device="scanner"] .light').className.includes("red") &&
		document.querySelector('[data-device="scanner"]').innerText.includes("antwortet nicht")`, 30*time.Second)
	b.shot("10-scanner-off.png")
	postJSON(t, s.app().UIURL+"sim/api/scanner/power", `{"on":true}`)
	poll("scanner back", `document.querySelector('[data-device="scanner"] .light').className.includes("green")`, 30*time.Second)

	// Counters and wear parts; the feed roller is reset after replacing.
	click("counters", `[data-tab="counters"]`)
	want := s.counters(t)
	poll("counters shown", fmt.Sprintf(`document.querySelector('[data-count="pages"] td:last-child').textContent === "%d"`, want[service.CountPages]), 60*time.Second)
	for _, k := range []string{"sheets", "jams", "visits", "receipts"} {
		if got := b.eval(`document.querySelector('[data-count="` + k + `"] td:last-child').textContent`); got != fmt.Sprint(want[k]) {
			t.Errorf("counter %s shows %s, want %d", k, got, want[k])
		}
	}
	if want[service.CountVisits] < 1 || want[service.CountSheets] < 1 {
		t.Errorf("counters %v", want)
	}
	b.axeCheck("counters")
	b.shot("11-counters.png")
	click("reset the feed roller", `[data-reset="feed-roller"]`)
	poll("feed roller reset", `document.querySelector('[data-consumable="feed-roller"]').innerText.startsWith("Einzugsrolle") &&
		document.querySelector('[data-consumable="feed-roller"]').innerText.match(/\b0 Seiten/) !== null`, 60*time.Second)
	ev.wait("service.reset.feed-roller")

	// Support bundle on the USB folder: logs, counters, devices, no number,
	// no page bytes.
	click("support", `[data-tab="bundle"]`)
	click("bundle to USB", "#bundle")
	poll("bundle written", `document.getElementById("bundlefile").textContent.includes("einwurf-support-")`, 60*time.Second)
	b.shot("12-bundle.png")
	files, _ := filepath.Glob(filepath.Join(s.usbDir, "einwurf-support-*.json"))
	if len(files) != 1 {
		t.Fatalf("bundle files %v", files)
	}
	bundle, _ := os.ReadFile(files[0])
	checkBundle(t, bundle, number, pdfBytes)

	// A restart keeps the counters (and the feed roller's reset).
	before := s.counters(t)
	board("service_key", false)
	poll("back on the customer screen", `location.pathname === "/"`, 30*time.Second)
	s.Close()
	if s, err = startSim(ctx, flags{demo: true, data: dir, code: number}, testLog(t)); err != nil {
		t.Fatal(err)
	}
	ev = watchEvents(t, s)
	// The counters kept reach the central in telemetry (sent a second
	// after start, then every 30 s).
	select {
	case tm := <-ev.tm:
		var got struct {
			Counters map[string]int64 `json:"counters"`
		}
		if err := json.Unmarshal([]byte(tm), &got); err != nil || got.Counters[service.CountPages] != before[service.CountPages] ||
			got.Counters[service.CountJams] != before[service.CountJams] || got.Counters["feed-roller.since"] != 0 {
			t.Fatalf("telemetry after the restart: %s (%v), want counters %v", tm, err, before)
		}
	case <-time.After(90 * time.Second): // the first two sends, however slowly the restart went
		t.Fatal("no telemetry after the restart")
	}
	board("service_key", true)
	postJSON(t, s.app().UIURL+"sim/api/badge", `{"number":"`+simBadge+`"}`)
	ev.wait("service.login")
	b.do("service screen after the restart", chromedp.Navigate(s.app().UIURL+"service/"))
	poll("logged in", `!document.getElementById("open").hidden`, 30*time.Second)
	click("counters", `[data-tab="counters"]`)
	poll("counters kept", fmt.Sprintf(`document.querySelector('[data-count="pages"] td:last-child').textContent === "%d" &&
		document.querySelector('[data-consumable="feed-roller"]').innerText.match(/\b0 Seiten/) !== null`, before[service.CountPages]), 60*time.Second)
	b.shot("13-counters-after-restart.png")

	// Out of service with a reason: after the key returns, the customer
	// screen says so; then back in service.
	click("out of service", `[data-tab="oos"]`)
	b.axeCheck("out of service")
	click("maintenance", `[data-reason="maintenance"]`)
	poll("out of service", `document.getElementById("oosstate").textContent.includes("Wartung")`, 60*time.Second)
	b.shot("14-out-of-service.png")
	ev.wait("service.out-of-service.maintenance")
	board("service_key", false)
	poll("customer screen says out of service", `location.pathname === "/" && document.body.innerText.includes("Wegen Wartung außer Betrieb")`, 30*time.Second)
	b.shot("15-customer-out-of-service.png")
	if v := getView(t, s); v.NotReadyReason != "out-of-service.maintenance" {
		t.Fatalf("view %+v", v)
	}
	board("service_key", true)
	postJSON(t, s.app().UIURL+"sim/api/badge", `{"number":"`+simBadge+`"}`)
	poll("service screen again", `location.pathname === "/service/" && !document.getElementById("open").hidden`, 30*time.Second)
	click("out of service", `[data-tab="oos"]`)
	click("back in service", "#inservice")
	poll("in service", `document.getElementById("oosstate").textContent.includes("in Betrieb")`, 60*time.Second)
	board("service_key", false)
	poll("self-test passed, customer screen", `location.pathname === "/"`, 30*time.Second)
	ev.wait("service.self-test")
	testtool.WaitFor(t, 60*time.Second, "ready after service mode", func() bool { return getView(t, s).NotReady == "" })
	b.shot("16-customer-ready.png")
}

// counters returns the appliance's persistent counters as telemetry
// reports them.
func (s *simulation) counters(t *testing.T) map[string]int64 {
	t.Helper()
	var b struct {
		Counters map[string]int64 `json:"counters"`
	}
	raw, err := s.app().SupportBundleJSON(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	return b.Counters
}

// checkBundle fails if the bundle holds the customer's number (in any of
// its parts) or bytes of the filed document, and passes only with logs,
// counters and device lines in it.
func checkBundle(t *testing.T, bundle []byte, number string, pdf []byte) {
	t.Helper()
	for _, s := range []string{number, number[4:], strings.ToLower(number), "%PDF", "JVBER", "/9j/", "\xff\xd8\xff"} {
		if bytes.Contains(bundle, []byte(s)) {
			t.Errorf("the support bundle holds %q", s)
		}
	}
	for off := 0; off+32 <= len(pdf); off += len(pdf) / 50 {
		if bytes.Contains(bundle, pdf[off:off+32]) {
			t.Errorf("the support bundle holds bytes of the filed PDF at %d", off)
			break
		}
	}
	var b struct {
		Counters map[string]int64  `json:"counters"`
		Files    map[string]string `json:"files"`
		Config   json.RawMessage   `json:"config"`
	}
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	if b.Counters["pages"] == 0 || !strings.Contains(b.Files["log.txt"], "level=") || !strings.Contains(b.Files["devices.json"], `"scanner"`) || len(b.Config) == 0 {
		t.Errorf("bundle lacks counters, logs, devices or configuration: %s", bundle[:min(len(bundle), 600)])
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

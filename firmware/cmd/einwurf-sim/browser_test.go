package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/einwurf/einwurf/drivers/scanner/escl"
	chrome "github.com/einwurf/einwurf/internal/testtool/chromium"
)

// screenshot saves a full-page screenshot of the page shown in ctx (once
// it is laid out) as name in $EINWURF_SCREENSHOTS (or the test's
// temporary folder) and says where.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("EINWURF_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	chrome.NewTab(t, ctx, dir, "").Shot(name)
}

// TestSimulationPageInChromium uses the simulation page as a person does,
// beside the kiosk's screen: switch the profile, trigger a fault, and see
// the visit on the customer's screen end with the fault explained and the
// broken-off page named.
func TestSimulationPageInChromium(t *testing.T) {
	browser := need(t, "chromium")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfgPath, []byte(`{"scanner":{"resolution":150,"color":"Grayscale8","duplex":true}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := startSim(ctx, flags{demo: true, data: dir, config: cfgPath, code: "035F083761"}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	a.scanner.clientOpts = []escl.Option{escl.WithTimeouts(escl.Timeouts{Stall: 2 * time.Second})}

	bctx := chromium(t, ctx, browser, 1100, 900)
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	poll := func(what, js string) {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// The simulation page: every profile and every fault is a button.
	run("open the simulation page", chromedp.Navigate(a.app().UIURL+"sim/scanner"), chromedp.WaitVisible(chromedp.ID("fault-jam")))
	poll("buttons", `document.querySelectorAll('button.profile').length >= 7 && document.querySelectorAll('button.fault').length === 9`)
	run("switch to jam200", chromedp.Click(chromedp.ID("profile-jam200")))
	poll("profile switched", `document.body.dataset.profile === 'jam200'`)
	run("disconnect at sheet 2", chromedp.Click(chromedp.ID("fault-disconnect")))
	poll("fault set", `document.body.dataset.fault === 'disconnect'`)
	// The panel keys beside the headphone jack are buttons too.
	run("press the repeat key", chromedp.Click(`button.panel-key[data-key="key_repeat"]`))
	poll("key pressed", `document.getElementById('board-state').textContent.includes('✓') &&
		document.querySelectorAll('button.panel-key').length === 6`)
	screenshot(t, bctx, "sim-scanner-faults.png")
	if st := a.scanner.state(); st.Profile != "jam200" || st.Fault != "disconnect" || st.Effective.DisconnectAtSheet != 2 {
		t.Fatalf("scanner state %+v", st)
	}

	// A visit on the customer's screen, the scan broken off at sheet 2.
	if err := a.app().Kiosk.Identify("035F083761"); err != nil {
		t.Fatal(err)
	}
	_ = a.app().Kiosk.Scan(ctx)
	v := a.app().Kiosk.View()
	if v.ErrorKey != "offline" || v.Scanned != 2 || len(v.Missing) != 1 {
		t.Fatalf("view after the broken-off scan: %q, %d pages, missing %v", v.ErrorKey, v.Scanned, v.Missing)
	}
	run("open the kiosk screen", chromedp.Navigate(strings.TrimSuffix(a.app().UIURL, "/")+a.app().UILaunch()), chromedp.WaitVisible(chromedp.ID("error")))
	// The customer's screen has no simulation controls.
	poll("no fault buttons on the customer's screen", `document.querySelectorAll('button.fault, #fault-jam').length === 0`)
	// Where the screen has a list of missing pages, it names sheet 2.
	poll("missing page named", `(() => { const m = document.getElementById('missing');
		return !m || (!m.hidden && m.textContent.includes('2')); })()`)
	poll("thumbnails loaded", `Array.from(document.querySelectorAll('img')).every(i => i.complete)`)
	screenshot(t, bctx, "visit-scan-broken-off.png")
	text, err := chromedp.Run(bctx, chromedp.Text(chromedp.ID("error")))
	if err != nil || strings.TrimSpace(text) == "" {
		t.Fatalf("error on the customer's screen: %q %v", text, err)
	}
	// Understood, the review screen names the missing page and offers to
	// rescan its sheet before sending.
	run("dismiss the error", chromedp.Click(chromedp.ID("dismiss")), chromedp.WaitNotVisible(chromedp.ID("error")),
		chromedp.WaitVisible(chromedp.ID("missing")))
	missing, err := chromedp.Run(bctx, chromedp.Text(chromedp.ID("missing")))
	if err != nil || !strings.Contains(missing, "Blatt 2") || !strings.Contains(missing, "Vorderseite") || !strings.Contains(missing, "erneut") {
		t.Fatalf("missing pages on the review screen: %q %v", missing, err)
	}
	screenshot(t, bctx, "visit-missing-page.png")
	// The person clears the fault and puts sheet 2 back; the customer
	// taps its rescan button, and the sheet takes its place.
	postScanner(t, a, `{"fault":"clear"}`)
	a.scanner.Server().Load(1)
	run("rescan sheet 2", chromedp.Click(chromedp.CSS("#missing-list button")), chromedp.WaitNotVisible(chromedp.ID("missing")))
	deadline := time.Now().Add(30 * time.Second)
	for v := a.app().Kiosk.View(); v.Scanned != 4 || len(v.Missing) != 0 || v.ErrorKey != ""; v = a.app().Kiosk.View() {
		if time.Now().After(deadline) {
			t.Fatalf("after the rescan: %d pages, missing %v, error %q", v.Scanned, v.Missing, v.ErrorKey)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

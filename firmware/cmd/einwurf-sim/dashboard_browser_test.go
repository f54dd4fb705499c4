package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/einwurf/einwurf/central/monitor"
	"github.com/einwurf/einwurf/internal/testtool"
	chrome "github.com/einwurf/einwurf/internal/testtool/chromium"
	"github.com/einwurf/einwurf/wire"
)

// dashTab is one Chromium tab of the dashboard test.
type dashTab struct {
	t     *testing.T
	ctx   context.Context
	axe   string
	shots string
}

// tab is the tab as testtool's browser helper.
func (b *dashTab) tab() *chrome.Tab { return chrome.NewTab(b.t, b.ctx, b.shots, b.axe) }

func (b *dashTab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	b.tab().Do(what, actions...)
}

func (b *dashTab) poll(what, js string, d time.Duration) {
	b.t.Helper()
	b.tab().Poll(what, js, d)
}

func (b *dashTab) eval(js string) string {
	b.t.Helper()
	return b.tab().Eval(js)
}

func (b *dashTab) shot(name string) {
	b.t.Helper()
	b.tab().Shot(name)
}

// axeCheck runs axe-core's WCAG 2.1 A and AA rules on the page shown.
func (b *dashTab) axeCheck(page string) {
	b.t.Helper()
	b.tab().Axe(page)
}

// chromium starts headless Chromium (the path browser) with the project's
// flags and a window of w×h; it ends with ctx or the test.
func chromium(t *testing.T, ctx context.Context, browser string, w, h int) context.Context {
	return chrome.Context(t, ctx, browser, w, h)
}

// TestDashboardInChromium walks the central's dashboard in the simulated
// appliance as an operator does: log in, see the fleet, watch the kiosk
// go offline and come back without reloading, acknowledge an alarm, send
// "out of service" and see the customer's screen change, look up a
// receipt. Every page passes axe-core's WCAG 2.1 AA rules; screenshots go
// to $EINWURF_SCREENSHOTS/dashboard.
func TestDashboardInChromium(t *testing.T) {
	browser := testtool.NeedTool(t, "chromium")
	axe := testtool.AxeSource(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	s, err := startSim(ctx, flags{demo: true, data: dir, code: "035F083761"}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, id := s.dashboard.Store, s.app().KioskID
	if err := monitor.AddAccount(ctx, st, "admin", monitor.RoleAdmin, "correct horse battery staple", time.Now()); err != nil {
		t.Fatal(err)
	}
	testtool.WaitFor(t, 60*time.Second, "the kiosk's birth", func() bool {
		k, err := st.Kiosk(ctx, id)
		return err == nil && k.Online
	})
	// A visit, for a receipt to look up and deliveries to show.
	pdf, err := s.demo(ctx, "035F083761")
	if err != nil {
		t.Fatal(err)
	}
	var side struct {
		PacketID string `json:"packet_id"`
	}
	if b, err := os.ReadFile(strings.TrimSuffix(pdf, ".pdf") + ".json"); err != nil || json.Unmarshal(b, &side) != nil || side.PacketID == "" {
		t.Fatalf("sidecar: %v", err)
	}
	code := wire.ReceiptCode(side.PacketID)
	// An alarm for the operator: the case opened.
	s.app().Alarm("tamper.open", "the case was opened")
	testtool.WaitFor(t, 60*time.Second, "the tamper alarm", func() bool {
		as, _ := st.Alarms(ctx, true)
		return len(as) > 0
	})

	bctx := chromium(t, ctx, browser, 1400, 900)
	b := &dashTab{t: t, ctx: bctx, axe: axe, shots: testtool.ShotDir(t, "dashboard")}
	base := strings.TrimSuffix(s.dashboard.URL, "/")

	// Log in.
	b.do("open the dashboard", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("login")))
	b.axeCheck("login")
	b.shot("01-login.png")
	b.do("log in", chromedp.SendKeys(chromedp.ID("login"), "admin"), chromedp.SendKeys(chromedp.ID("password"), "correct horse battery staple"),
		chromedp.Submit(chromedp.ID("password")), chromedp.WaitVisible(chromedp.ID("fleet")))

	// The fleet, live: the kiosk goes offline and comes back while the
	// page stays loaded (a marker in the page survives).
	row := `document.getElementById("k-` + id + `")`
	b.poll("kiosk online", row+` && `+row+`.dataset.online === "true"`, 60*time.Second)
	b.axeCheck("fleet")
	b.shot("02-fleet.png")
	// The default columns fit the window, at 1400 and at 1280 px.
	fits := `(() => { const s = document.getElementById("fleet-scroll");
		return s.scrollWidth <= s.clientWidth && document.documentElement.scrollWidth <= innerWidth; })()`
	if b.eval(`String(`+fits+`)`) != "true" {
		t.Errorf("the fleet table overflows at 1400 px: %s", b.eval(`document.getElementById("fleet-scroll").scrollWidth + " > " + innerWidth`))
	}
	b.do("a 1280 px window", chromedp.EmulateViewport(1280, 800))
	b.poll("the page laid out at 1280 px", `innerWidth === 1280`, 30*time.Second)
	if b.eval(`String(`+fits+`)`) != "true" {
		t.Errorf("the fleet table overflows at 1280 px: %s", b.eval(`document.getElementById("fleet-scroll").scrollWidth + " > " + innerWidth`))
	}
	b.shot("02b-fleet-1280.png")
	// The column chooser adds columns; the table then scrolls sideways
	// with the kiosk's name kept in view.
	b.do("choose every column", chromedp.Click(chromedp.CSS("#columns summary")),
		chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('#columns input[name=col]').forEach(c => c.checked = true)`),
		chromedp.Click(chromedp.CSS(`#columns button`)), chromedp.WaitVisible(chromedp.CSS(`#fleet th.c-temp`)))
	t.Logf("fleet table with every column: %s px wide in a %s px window",
		b.eval(`String(document.getElementById("fleet-scroll").scrollWidth)`), b.eval(`String(innerWidth)`))
	if got := b.eval(`String(document.querySelectorAll("#fleet thead th").length)`); got != "14" {
		t.Errorf("%s columns after choosing all, want 14", got)
	}
	// In a narrow window (a tablet, a half screen) the table scrolls
	// sideways and the kiosk's name stays in view.
	b.do("a 900 px window", chromedp.EmulateViewport(900, 800))
	b.poll("the page laid out at 900 px", `innerWidth === 900`, 30*time.Second)
	if b.eval(`String(document.getElementById("fleet-scroll").scrollWidth > document.getElementById("fleet-scroll").clientWidth)`) != "true" {
		t.Error("every column fits 900 px: the sideways scroll is not tested")
	}
	// Scrolled to the far right, the name is still at the table's left
	// edge. Chromium places a sticky cell anew only in the next frame after
	// a scroll, so the condition is polled (each animation frame) rather
	// than read once right after scrolling; scrolling again in each poll
	// keeps it scrolled should the page have been loaded anew.
	b.poll("the kiosk's name stays in view when the table scrolls sideways (it scrolls out of view)", `(() => {
		const s = document.getElementById("fleet-scroll"), name = document.querySelector("#fleet tbody .c-name");
		s.scrollLeft = s.scrollWidth;
		return s.scrollLeft > 0 && !!name && Math.abs(name.getBoundingClientRect().left - s.getBoundingClientRect().left) < 2; })()`, 30*time.Second)
	b.axeCheck("fleet, every column")
	b.shot("02c-fleet-every-column-scrolled.png")
	b.do("back to 1400 px and the default columns", chromedp.EmulateViewport(1400, 900), chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.ID("fleet")))
	b.eval(`window.notReloaded = "yes"`)
	s.broker.Cut(id, true)
	b.poll("kiosk shown offline without reload", row+` && `+row+`.dataset.online === "false" && window.notReloaded === "yes"`, 30*time.Second)
	b.shot("03-fleet-kiosk-offline.png")
	s.broker.Cut(id, false)
	b.poll("kiosk back online without reload", row+` && `+row+`.dataset.online === "true" && window.notReloaded === "yes"`, 90*time.Second)
	b.shot("04-fleet-kiosk-back.png")
	// Sorting and filtering by site.
	b.do("sort by status", chromedp.Navigate(base+"/?sort=status&desc=1"), chromedp.WaitVisible(chromedp.ID("fleet")))
	if got := b.eval(`document.querySelector("th[aria-sort]").textContent`); got != "Status" {
		t.Errorf("sorted column %q", got)
	}

	// Alarms: the offline alarm (cleared) and the tamper alarm (open);
	// acknowledge the tamper alarm.
	b.do("open alarms", chromedp.Navigate(base+"/alarms"), chromedp.WaitVisible(chromedp.ID("alarms")))
	b.poll("tamper alarm listed", `document.getElementById("alarms").textContent.includes("tamper.open")`, 60*time.Second)
	b.axeCheck("alarms")
	b.do("acknowledge", chromedp.Click(chromedp.CSS(`button[aria-label="Acknowledge tamper.open on `+id+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(".flash")))
	b.poll("acknowledged by admin", `[...document.querySelectorAll("#alarms tr")].some(r => r.textContent.includes("tamper.open") && r.textContent.includes("by admin"))`, 60*time.Second)
	b.shot("05-alarms-acknowledged.png")
	if as, _ := st.Alarms(ctx, true); len(as) == 0 || as[0].AckedBy != "admin" {
		t.Fatalf("alarm not acknowledged in the store: %+v", as)
	}

	// The kiosk page: "last seen … ago" counts on by itself (the element
	// is not fetched again: a mark on it stays). Its telemetry is sent
	// again first, for the service mode's counters.
	if recs, err := s.dashboard.Monitor.Send(ctx, "test", []string{id}, wire.CmdResendStatus, nil); err != nil {
		t.Fatal(err)
	} else {
		answered(t, st, id, recs[0].Seq)
	}
	b.do("open the kiosk page", chromedp.Navigate(base+"/kiosk/"+id), chromedp.WaitVisible(chromedp.ID("kind")))
	b.poll("last seen counts on without a fetch", `(() => { const e = document.querySelector("#conn time[data-ago]");
		if (!e) return false;
		if (!e.dataset.mark) { e.dataset.mark = e.textContent; return false; }
		return e.textContent !== e.dataset.mark; })()`, 30*time.Second)
	if !strings.Contains(b.eval(`document.getElementById("facts").textContent`), "pages") {
		t.Error("no counters on the kiosk page")
	}
	b.axeCheck("kiosk")
	b.shot("06-kiosk.png")
	b.do("send out of service", chromedp.SetValue(chromedp.ID("kind"), wire.CmdOutOfService),
		chromedp.SetValue(chromedp.ID("reason"), "maintenance"), chromedp.Submit(chromedp.ID("kind")),
		chromedp.WaitVisible(chromedp.CSS(".flash")))
	if got := b.eval(`location.pathname`); got != "/kiosk/"+id {
		t.Errorf("after sending, the browser is on %s, not back on the kiosk page", got)
	}
	// The kiosk page follows the answer and the new state live.
	b.eval(`window.notReloaded = "yes"`)
	b.poll("the answer on the kiosk page without reload", `window.notReloaded === "yes" &&
		[...document.querySelectorAll("#kiosk-log tr")].some(r => r.textContent.includes("out-of-service") && r.textContent.includes("done"))`, 30*time.Second)
	b.poll("out of service in the kiosk's facts without reload", `window.notReloaded === "yes" &&
		document.getElementById("facts").textContent.includes("out of service (maintenance)")`, 60*time.Second)
	b.shot("06b-kiosk-out-of-service-live.png")
	b.do("open the audit log", chromedp.Navigate(base+"/commands"), chromedp.WaitVisible(chromedp.ID("audit")))
	b.poll("kiosk answered done", `[...document.querySelectorAll("#audit tr")].some(r => r.textContent.includes("out-of-service") && r.textContent.includes("done"))`, 30*time.Second)
	b.axeCheck("commands")
	b.shot("07-commands-audit.png")

	// The customer's screen in a second tab says why.
	kctx, kcancel := chromedp.NewContext(bctx)
	defer kcancel()
	k := &dashTab{t: t, ctx: kctx, shots: b.shots}
	k.do("open the kiosk screen", chromedp.Navigate(strings.TrimSuffix(s.app().UIURL, "/")+s.app().UILaunch()))
	k.poll("out of service on the customer's screen", `(() => { const e = document.getElementById("not-ready-reason");
		return e && !e.hidden && e.textContent.includes("Wartung"); })()`, 60*time.Second)
	k.shot("08-kiosk-screen-out-of-service.png")

	// Receipt look-up at the counter.
	b.do("open look-up", chromedp.Navigate(base+"/lookup"), chromedp.WaitVisible(chromedp.ID("code")))
	b.axeCheck("lookup")
	b.do("look up the receipt", chromedp.SendKeys(chromedp.ID("code"), strings.ToLower(code)), chromedp.Submit(chromedp.ID("code")),
		chromedp.WaitVisible(chromedp.ID("result")))
	if got := b.eval(`document.getElementById("result").textContent`); !strings.Contains(got, "Filed into the placement team inbox") || strings.Contains(got, "035F083761") {
		t.Fatalf("look-up result %q", got)
	}
	b.axeCheck("lookup result")
	b.shot("09-receipt-lookup.png")
	// Accounts (admin): a new operator account, made on the page.
	b.do("open accounts", chromedp.Navigate(base+"/accounts"), chromedp.WaitVisible(chromedp.ID("new-account")))
	b.do("create an account", chromedp.SendKeys(chromedp.ID("new-login"), "olga"), chromedp.SetValue(chromedp.ID("new-role"), monitor.RoleOperator),
		chromedp.SendKeys(chromedp.ID("new-password"), "a long enough password"), chromedp.Submit(chromedp.ID("new-login")),
		chromedp.WaitVisible(chromedp.ID("acc-olga")))
	if got := b.eval(`document.getElementById("acc-olga").textContent`); !strings.Contains(got, "operator") || !strings.Contains(got, "enabled") {
		t.Errorf("new account row %q", got)
	}
	b.axeCheck("accounts")
	b.shot("10-accounts.png")
	// No page shows the customer's number.
	for _, p := range []string{"/", "/alarms", "/commands", "/kiosk/" + id, "/accounts"} {
		b.do("open "+p, chromedp.Navigate(base+p), chromedp.WaitReady(chromedp.CSS("main")))
		if html := b.eval(`document.documentElement.outerHTML`); strings.Contains(html, "035F083761") || strings.Contains(html, "083761") {
			t.Errorf("%s shows the customer's number", p)
		}
	}
}

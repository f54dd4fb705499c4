package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/einwurf/einwurf/board"
	boardsim "github.com/einwurf/einwurf/board/sim"
	"github.com/einwurf/einwurf/drivers/printer"
	"github.com/einwurf/einwurf/drivers/printer/escpos"
	printersim "github.com/einwurf/einwurf/drivers/printer/sim"
	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/drivers/scanner/escl"
	"github.com/einwurf/einwurf/drivers/scanner/sim"
	"github.com/einwurf/einwurf/internal/testtool"
	chrome "github.com/einwurf/einwurf/internal/testtool/chromium"
	"github.com/einwurf/einwurf/kiosk/document"
	"github.com/einwurf/einwurf/kiosk/session"
	"github.com/einwurf/einwurf/kiosk/speech"
)

// clock is a settable clock for the visit's time-outs.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// gated is a Submitter that holds each document until released, so the
// "submitting" screen can be looked at.
type gated struct {
	submitter
	hold    chan struct{}
	holding atomic.Bool // set by the test, read by the session's submit
}

func (g *gated) Submit(ctx context.Context, d session.Document) (session.Receipt, error) {
	if g.holding.Load() {
		<-g.hold
	}
	return g.submitter.Submit(ctx, d)
}

// outOfService is the appliance's out-of-service error: it names its
// reason's message key.
type outOfService struct{}

func (outOfService) Error() string     { return "out of service" }
func (outOfService) ReasonKey() string { return "out-of-service.maintenance" }

// browser is one headless Chromium for all screens and languages.
type browser struct {
	t    *testing.T
	ctx  context.Context
	tab  *chrome.Tab
	k    *session.Kiosk
	axes int
}

// newBrowser starts headless Chromium with a window of the kiosk's
// screen, 1080×1920; screenshots go to testtool.ShotDir's kiosk-ui.
func newBrowser(t *testing.T, k *session.Kiosk) *browser {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	tab := chrome.Start(t, ctx, 1080, 1920, "kiosk-ui")
	t.Logf("screenshots (1080×1920) in %s", tab.Shots)
	return &browser{t: t, ctx: tab.Ctx, tab: tab, k: k}
}

func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v (view %+v)", what, err, b.k.View())
	}
}

func (b *browser) eval(js string) string {
	b.t.Helper()
	return b.tab.Eval(js)
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	return b.eval(`(document.querySelector(` + quote(sel) + `)||{}).textContent || ""`)
}

// wait polls a condition in the page.
func (b *browser) wait(what, cond string) {
	b.t.Helper()
	if err := b.tab.Until(cond, 30*time.Second); err != nil {
		b.t.Fatalf("%s (%s): %v (view %+v)", what, cond, err, b.k.View())
	}
}

func (b *browser) screen(name string) {
	b.t.Helper()
	b.wait("screen "+name, `document.body.dataset.screen === `+quote(name))
}

func (b *browser) click(sel string) {
	b.t.Helper()
	b.do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

func quote(s string) string { q, _ := json.Marshal(s); return string(q) }

// check runs axe-core (WCAG 2.1 A and AA) on what is shown, in every
// language, and writes a screenshot of each. The language switch must
// work on this screen; the focus must be on the new content.
func (b *browser) check(name string, langs ...string) {
	b.t.Helper()
	if len(langs) == 0 {
		langs = languages
	}
	// The focus moved to the new screen's or dialog's heading (or stays
	// on the keypad's key the customer is pressing, or the text size
	// toggle just pressed).
	b.wait("focus on "+name, `document.activeElement && document.activeElement.offsetParent !== null &&
		(/^H[12]$/.test(document.activeElement.tagName) || !!document.activeElement.closest("#keys") || document.activeElement.id === "bigger")`)
	for _, lang := range langs {
		b.click(`button.lang[data-lang="` + lang + `"]`)
		b.wait("language "+lang, `document.documentElement.lang === `+quote(lang))
		b.tab.Axe(name + "/" + lang)
		b.axes++
		b.tab.ShotScreen(name + "-" + lang + ".png")
	}
	b.click(`button.lang[data-lang="de"]`)
}

func (b *browser) typeKeys(s string) {
	b.t.Helper()
	for _, k := range []string{s} {
		for i := 0; i < len(k); i++ {
			key := string(k[i])
			if k[i] == '/' {
				key, i = "//", i+1
			}
			b.click(`#keys button.key:nth-child(` + fmt.Sprint(keyIndex(key)) + `)`)
		}
	}
}

func keyIndex(k string) int {
	order := []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "//"}
	for i, o := range order {
		if o == k {
			return i + 1
		}
	}
	return len(order) + int(k[0]-'A') + 1
}

// TestScreensInChromium walks a visit through every screen as a customer
// would, in headless Chromium: axe-core finds no WCAG 2.1 A/AA violation
// on any screen in any language, every screen is spoken, and the
// privacy defects stay fixed (typed numbers shown in full only while
// checking, nothing left of a visit, errors stay, cancel asks, no Send
// without pages).
func TestScreensInChromium(t *testing.T) {
	srv, err := sim.Start(sim.Options{Sheets: 5, Duplex: true, Code: "035F083761", BlankBacks: []int{2}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	prn, err := printersim.New(escpos.DefaultProfile())
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Now()}
	sub := &gated{hold: make(chan struct{})}
	k, err := session.New(session.Config{Scanner: escl.New(&http.Client{}, srv.URL()), Submitter: sub, Printer: prn,
		WorkDir:  filepath.Join(t.TempDir(), "visits"),
		Settings: scanner.Settings{Source: scanner.SourceFeeder, Duplex: true, Resolution: 150, ColorMode: scanner.ColorRGB24, Format: scanner.FormatJPEG},
		Document: document.DefaultOptions(), RemoveBlank: true, IdleTimeout: time.Hour, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	said := &speech.Recorder{}
	var down atomic.Bool
	ready := func() error {
		if down.Load() {
			return outOfService{}
		}
		return nil
	}
	// The panel keys: the simulated board's lines, watched as on a kiosk.
	brd, err := boardsim.NewDefault()
	if err != nil {
		t.Fatal(err)
	}
	kctx, kcancel := context.WithCancel(context.Background())
	defer kcancel()
	presses, err := board.WatchKeys(kctx, brd)
	if err != nil {
		t.Fatal(err)
	}
	keys := make(chan string)
	go func() {
		defer close(keys)
		for p := range presses {
			keys <- string(p)
		}
	}()
	h := New(Config{Kiosk: k, InjectCode: k.Identify, Speaker: said, Ready: ready, Keys: keys})
	defer h.Close()
	s := loopbackServer(t, h)
	b := newBrowser(t, k)

	b.do("open", chromedp.EmulateViewport(1080, 1920), chromedp.Navigate(s.URL+h.LaunchPath()))
	b.wait("ready", `document.body.dataset.ready === "1"`)
	// A kiosk offers no context menu (long press, right click).
	if b.eval(`(() => { const e = new MouseEvent("contextmenu", {bubbles: true, cancelable: true, button: 2});
		document.getElementById("screen-idle").dispatchEvent(e); return String(e.defaultPrevented); })()`) != "true" {
		t.Fatal("the context menu is not suppressed")
	}
	b.screen("idle")
	b.check("idle")
	usePanelKeys(t, b, brd, said)

	// A barcode that is no number: told, and it stays until acknowledged.
	k.Identify("HELLO")
	b.wait("not-a-number", `!document.getElementById("error").hidden`)
	clk.add(2 * time.Second)
	k.Tick()
	time.Sleep(300 * time.Millisecond) // events are pushed; nothing may clear the error
	if b.eval(`String(document.getElementById("error").hidden)`) != "false" || !strings.Contains(b.text("#error-text"), "Barcode") {
		t.Fatalf("the reader's error vanished: %q", b.text("#error-text"))
	}
	b.check("error-not-a-number", "de", "ar")
	b.click("#dismiss")
	b.wait("dismissed", `document.getElementById("error").hidden`)

	// The keypad: typed in full while typing and on the confirm step.
	b.click("#screen-idle .to-keypad")
	b.screen("keypad")
	b.typeKeys("035F083716")
	if got := b.text("#typed"); got != "035F083716" {
		t.Fatalf("typed shows %q", got)
	}
	b.check("keypad")
	b.click("#key-ok")
	b.screen("checking")
	if got := b.text("#typed-full"); got != "035F083716" {
		t.Fatalf("confirm step shows %q", got)
	}
	b.check("checking")
	// The typo is seen: type again.
	b.click("#retype")
	b.screen("keypad")
	if got := b.text("#typed"); got != "" {
		t.Fatalf("the keypad kept %q", got)
	}
	b.typeKeys("035F083761")
	b.click("#key-ok")
	b.screen("checking")
	b.click("#accept")
	b.screen("identified")
	if got := b.text("#screen-identified .masked"); got != "035F****61" {
		t.Fatalf("identified shows %q", got)
	}
	b.check("identified")

	// Cover open: the reason with a picture, and no review of nothing.
	srv.SetFaults(sim.Faults{CoverOpen: true})
	b.click("#scan")
	b.wait("cover open", `!document.getElementById("error").hidden && !!document.querySelector("#error-picture svg")`)
	b.check("error-cover-open")
	b.click("#dismiss")
	b.wait("dismissed", `document.getElementById("error").hidden`)

	// A sheet too long for the feeder: its own picture and words, spoken
	// in the customer's language.
	srv.SetFaults(sim.Faults{PageTooLongAtSheet: 1})
	b.click("#scan")
	b.wait("page too long", `!document.getElementById("error").hidden &&
		!!document.querySelector('#error-picture svg[data-key="page-too-long"]')`)
	// The error stays: the answer to the scan request, older than the
	// pushed error, does not take it away.
	time.Sleep(1500 * time.Millisecond)
	if b.eval(`String(document.getElementById("error").hidden)`) != "false" {
		t.Fatal("the page-too-long error vanished")
	}
	b.check("error-page-too-long", "de", "ar", "uk")
	// Read aloud in the customer's language (the Vorlesen button, usable
	// while the dialog is open).
	for _, lang := range []string{"ar", "uk", "de"} {
		want := catalogue(t, lang)["err.page-too-long"]
		heard := func() bool {
			for _, s := range said.Texts() {
				if s.Lang == lang && strings.Contains(s.Text, want) {
					return true
				}
			}
			return false
		}
		b.click(`button.lang[data-lang="` + lang + `"]`)
		b.wait("language "+lang, `document.documentElement.lang === `+quote(lang))
		b.click("#say-again")
		if !testtool.Within(30*time.Second, heard) {
			var in []string
			for _, s := range said.Texts() {
				if s.Lang == lang {
					in = append(in, s.Text)
				}
			}
			t.Errorf("%s: %q not spoken; said in %s: %q", lang, want, lang, in)
		}
	}
	srv.SetFaults(sim.Faults{PageDelay: 4 * time.Second})
	srv.Load(5) // the customer took the long sheet out and put the others back
	b.click("#dismiss")
	b.wait("dismissed", `document.getElementById("error").hidden`)

	// Scanning, stopped by the customer.
	b.click("#scan")
	b.screen("scanning")
	b.check("scanning")
	b.wait("a page", `parseInt(document.getElementById("scan-count").textContent, 10) >= 1`)
	b.click("#stop")
	b.screen("review")
	if v := k.View(); v.Scanned == 0 || v.Scanned >= 10 {
		t.Fatalf("stopped scan: %d pages", v.Scanned)
	}
	srv.SetFaults(sim.Faults{})
	b.click("#more")
	b.screen("review")
	b.wait("thumbnails", `(() => { const i = [...document.querySelectorAll("#pages img")];
		return i.length >= 4 && i.every(x => x.complete && x.naturalWidth > 100); })()`)
	b.check("review")
	oldThumb := b.eval(`document.querySelector("#pages img").src`)

	// Text at 200 %: the page reflows, nothing is cut off sideways.
	b.click("#bigger")
	b.wait("big text", `document.documentElement.classList.contains("big") &&
		getComputedStyle(document.documentElement).fontSize === "48px" &&
		document.documentElement.scrollWidth <= window.innerWidth`)
	b.check("review-200", "de", "ar")
	b.click("#bigger")
	b.wait("normal text", `!document.documentElement.classList.contains("big")`)

	// Zoom a page.
	b.click("#pages li:first-child .zoom")
	b.wait("zoom", `!document.getElementById("zoom").hidden && document.getElementById("zoom-img").naturalWidth > 500`)
	b.check("zoom", "de", "ar")
	b.click("#zoom-close")

	// Remove and restore: state in text, not colour alone.
	b.click("#pages li:first-child .toggle")
	b.wait("removed", `document.querySelector("#pages li:first-child .state").textContent.includes("entfernt")`)
	b.click("#pages li:first-child .toggle")
	b.wait("restored", `document.querySelector("#pages li:first-child .state").textContent.includes("gesendet") &&
		!document.querySelector("#pages li:first-child .state").textContent.includes("nicht")`)

	// Cancel asks first.
	b.click("#screen-review .ask-cancel")
	b.wait("ask", `!document.getElementById("ask-cancel").hidden`)
	b.check("ask-cancel")
	b.click("#cancel-no")
	b.screen("review")
	if v := k.View(); v.State != session.Review || v.Scanned == 0 {
		t.Fatalf("cancel did not ask: %+v", v)
	}

	// Another customer's barcode: "Sind das Ihre Seiten?"
	k.Identify("111A222333")
	b.screen("claim")
	b.check("claim")
	k.Identify("035F083761")
	b.screen("review")

	// Idle: "Noch da?" with a countdown.
	clk.add(time.Hour)
	k.Tick()
	b.wait("idle warning", `!document.getElementById("idle-warning").hidden`)
	if got := b.text("#idle-countdown"); !strings.Contains(got, "20") {
		t.Fatalf("countdown %q", got)
	}
	b.check("idle-warning")
	// The countdown is spoken as it runs.
	clk.add(5 * time.Second)
	k.Tick()
	b.wait("countdown 15", `document.getElementById("idle-countdown").textContent.includes("15")`)
	if !testtool.Within(30*time.Second, func() bool { return slices.Contains(said.Texts(), speech.Said{Lang: "de", Text: "15"}) }) {
		t.Errorf("the countdown was not spoken: %v", said.Texts())
	}
	b.click("#still-here")
	b.wait("still here", `document.getElementById("idle-warning").hidden`)

	// Send: "submitting" is shown, then the receipt.
	sub.holding.Store(true)
	pagesSent := k.View().Kept
	b.click("#confirm")
	b.screen("submitting")
	b.check("submitting")
	start := time.Now()
	close(sub.hold)
	b.screen("done")
	t.Logf("release to receipt screen: %v", time.Since(start))
	b.wait("printed", `document.getElementById("print-state").textContent.includes("Quittung mit")`)
	if got := b.text("#receipt-number"); got != "ABCD-1234-EF56" || b.text("#receipt-pages") != fmt.Sprint(pagesSent) {
		t.Fatalf("receipt %q, %s pages", got, b.text("#receipt-pages"))
	}
	b.wait("receipt QR code", `document.getElementById("receipt-qr").naturalWidth > 0`)
	b.check("done")
	// The QR code on the screen carries the statement (read with zbarimg).
	qr, err := chromedp.Run(b.ctx, chromedp.Screenshot(chromedp.ID("receipt-qr")))
	if err != nil {
		t.Fatal(err)
	}
	qrFile := filepath.Join(b.tab.Shots, "receipt-qr.png")
	os.WriteFile(qrFile, qr, 0o644)
	out, err := exec.Command(testtool.NeedTool(t, "zbarimg"), "--raw", "-q", qrFile).Output()
	if got := strings.TrimSpace(string(out)); err != nil || got != testStatement {
		t.Fatalf("QR code on the screen reads %q (%v)", got, err)
	}
	if n := len(prn.Receipts()); n < 1 {
		t.Fatalf("%d receipts printed", n)
	}

	// The next customer sees nothing of this one.
	b.click(`button.lang[data-lang="tr"]`)
	b.click("#finish")
	b.screen("idle")
	b.wait("german again", `document.documentElement.lang === "de"`)
	if n := b.eval(`String(document.querySelectorAll("#pages li, #pages img").length) + document.getElementById("typed").textContent +
		document.getElementById("receipt-number").textContent + (document.getElementById("zoom-img").getAttribute("src") || "")`); n != "0" {
		t.Fatalf("left of the visit: %q", n)
	}
	// Not even the kiosk's own browser gets the last visit's thumbnail by
	// its URL.
	if st, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`fetch(`+quote(oldThumb)+`).then(r => r.status)`,
		chromedp.EvalAwaitPromise)); err != nil || st != http.StatusNotFound {
		t.Fatalf("the last visit's thumbnail %s by URL: %d %v", oldThumb, st, err)
	}

	// Typed number, pages of another number: the choice comes first.
	srv.Load(1)
	b.click("#screen-idle .to-keypad")
	b.typeKeys("111A222333")
	b.click("#key-ok")
	b.click("#accept")
	b.screen("identified")
	b.click("#scan")
	b.screen("review")
	b.wait("choice", `!document.getElementById("choose").hidden && document.getElementById("confirm").disabled`)
	b.check("review-choose")
	b.click("#choices button:nth-child(2)")
	b.wait("chosen", `document.getElementById("choose").hidden && !document.getElementById("confirm").disabled`)
	// No Send without a page.
	for i := range k.View().Pages {
		if k.View().Pages[i].Kept {
			k.Toggle(i)
		}
	}
	b.wait("send off", `document.getElementById("confirm").disabled`)
	b.click("#screen-review .ask-cancel")
	b.click("#cancel-yes")
	b.screen("idle")

	// The printer out of paper: told before scanning.
	prn.SetStatus(printer.Status{Online: true, PaperOut: true})
	k.Tick()
	b.wait("printer notice", `!document.querySelector("#screen-idle .printer-notice").hidden`)
	b.check("idle-printer-paper", "de", "en")

	// Out of service (an operator's command): told, and no number taken.
	down.Store(true)
	b.wait("out of service", `!document.getElementById("not-ready").hidden &&
		document.getElementById("not-ready-reason").textContent.includes("Wartung") && document.getElementById("scan-first").disabled`)
	// Nothing invites a number while none is taken.
	if got := b.eval(`String([...document.querySelectorAll("#screen-idle .lead, #screen-idle .actions, #screen-idle .hint")].filter(e => e.offsetParent !== null).length)`); got != "0" {
		t.Errorf("out of service: %s invitations to give a number are still shown", got)
	}
	b.check("idle-out-of-service", "de", "uk")
	down.Store(false)
	b.wait("back in service: the invitation again", `!document.querySelector("#screen-idle .lead").hidden && document.querySelector("#screen-idle .actions").offsetParent !== null`)

	// Every screen was spoken in its language.
	langs := map[string]bool{}
	for _, s := range said.Texts() {
		langs[s.Lang] = true
	}
	if len(langs) != len(languages) || len(said.Texts()) < 20 {
		t.Errorf("spoken in %v (%d texts)", langs, len(said.Texts()))
	}
	t.Logf("%d axe runs, %d texts spoken", b.axes, len(said.Texts()))
}

// press presses and releases a panel key on the simulated board.
func press(t *testing.T, brd *boardsim.Board, key board.Signal) {
	t.Helper()
	if err := brd.DriveAsserted(key, true); err != nil {
		t.Fatal(err)
	}
	if err := brd.DriveAsserted(key, false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * board.KeyDebounce) // a person's next press, not a bounce
}

// usePanelKeys uses the idle screen with the panel keys only, as a customer
// who cannot see it would: the focus moves and is said, Select activates,
// Repeat reads the screen again, the volume keys change the volume.
func usePanelKeys(t *testing.T, b *browser, brd *boardsim.Board, said *speech.Recorder) {
	t.Helper()
	heard := func(what string, ok func(speech.Said) bool) {
		t.Helper()
		if !testtool.Within(30*time.Second, func() bool { return slices.ContainsFunc(said.Texts(), ok) }) {
			t.Fatalf("not spoken: %s (%v)", what, said.Texts())
		}
	}
	b.wait("focus on the heading", `document.activeElement === document.getElementById("h-idle")`)
	press(t, brd, board.KeyNext)
	b.wait("next: the first control", `document.activeElement === document.querySelector("#screen-idle .to-keypad")`)
	heard("the focused control", func(s speech.Said) bool { return s.Text == "Nummer eintippen" })
	press(t, brd, board.KeyNext)
	b.wait("next: the second control", `document.activeElement === document.getElementById("scan-first")`)
	press(t, brd, board.KeyPrev)
	b.wait("prev: back to the first", `document.activeElement === document.querySelector("#screen-idle .to-keypad")`)
	press(t, brd, board.KeySelect)
	b.screen("keypad")
	b.wait("focus on the keypad's heading", `document.activeElement === document.getElementById("h-keypad")`)
	count := func() int {
		n := 0
		for _, s := range said.Texts() {
			if strings.HasPrefix(s.Text, "Nummer eingeben") {
				n++
			}
		}
		return n
	}
	heard("the keypad screen", func(s speech.Said) bool { return strings.HasPrefix(s.Text, "Nummer eingeben") })
	before := count()
	press(t, brd, board.KeyRepeat)
	if !testtool.Within(30*time.Second, func() bool { return count() > before }) {
		t.Fatalf("repeat: the screen was said %d times, then still %d", before, count())
	}
	v0 := said.Volume(0)
	press(t, brd, board.KeyVolumeUp)
	press(t, brd, board.KeyVolumeUp)
	testtool.WaitFor(t, 30*time.Second, "the volume up twice", func() bool { return said.Volume(0) == v0+2 })
	press(t, brd, board.KeyVolumeDown)
	if !testtool.Within(30*time.Second, func() bool { return said.Volume(0) == v0+1 }) {
		t.Fatalf("volume %d after up, up, down from %d", said.Volume(0), v0)
	}
	b.tab.ShotScreen("panel-keys-keypad-de.png")
	// Back to the start, with the keys: Prev from the heading reaches the
	// header, Next wraps round to the keypad's keys; the keyboard's
	// equivalent (arrow keys) moves the same way.
	b.click("#key-cancel")
	b.screen("idle")
	b.wait("focus on the heading", `document.activeElement === document.getElementById("h-idle")`)
	b.do("arrow down", chromedp.KeyEvent(kb.ArrowDown))
	b.wait("arrow down: the first control", `document.activeElement === document.querySelector("#screen-idle .to-keypad")`)
	// In Arabic, left is the way the text reads: the next control.
	b.click(`button.lang[data-lang="ar"]`)
	b.wait("arabic, focus on the heading", `document.documentElement.dir === "rtl" && document.activeElement === document.getElementById("h-idle")`)
	b.do("arrow left", chromedp.KeyEvent(kb.ArrowLeft))
	b.wait("arrow left in Arabic: the first control", `document.activeElement === document.querySelector("#screen-idle .to-keypad")`)
	b.click(`button.lang[data-lang="de"]`)
	b.wait("german again", `document.documentElement.lang === "de" && document.activeElement === document.getElementById("h-idle")`)
}

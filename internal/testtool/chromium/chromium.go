// Package chromium runs headless Chromium for browser tests with the
// project's flags: a Tab to act, wait, read, take screenshots and run
// axe-core on. It is apart from testtool so that tests without a browser
// do not link chromedp.
package chromium

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/einwurf/einwurf/internal/testtool"
)

// Tab is one tab of headless Chromium for a browser test: started with the
// project's flags, with helpers to act, wait, read, take screenshots and
// run axe-core on the page shown. Failures end the test.
type Tab struct {
	T   testing.TB
	Ctx context.Context
	// Shots is the folder screenshots go to (see testtool.ShotDir).
	Shots string
	axe   string
}

// Start starts headless Chromium (/usr/bin/chromium or chromium on
// PATH; missing, the test skips, or fails under CI=true) with a window of
// w×h, ending with ctx or the test. Screenshots go to testtool.ShotDir(t, shots);
// axe-core is loaded for Axe (testtool.AxeSource: skip or fail when missing).
func Start(t testing.TB, ctx context.Context, w, h int, shots string) *Tab {
	t.Helper()
	browser := testtool.NeedTool(t, "chromium")
	axe := testtool.AxeSource(t)
	return NewTab(t, Context(t, ctx, browser, w, h), testtool.ShotDir(t, shots), axe)
}

// NewTab is a Tab on a browser context ctx (Context), writing
// screenshots to shots and running the axe-core source axe.
func NewTab(t testing.TB, ctx context.Context, shots, axe string) *Tab {
	return &Tab{T: t, Ctx: ctx, Shots: shots, axe: axe}
}

// Context starts headless Chromium (the program browser) with the
// project's flags and a window of w×h, and returns its browser context;
// it ends with ctx or the test.
func Context(t testing.TB, ctx context.Context, browser string, w, h int) context.Context {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(w, h))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	return bctx
}

// Do runs actions; what names them in a failure.
func (b *Tab) Do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.T.Helper()
	if err := chromedp.Do(b.Ctx, actions...); err != nil {
		b.T.Fatalf("%s: %v", what, err)
	}
}

// Poll waits up to d until the expression js is true (see Until); what
// names it in a failure, which shows the page's text.
func (b *Tab) Poll(what, js string, d time.Duration) {
	b.T.Helper()
	if err := b.Until(js, d); err != nil {
		body, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : location.href`))
		b.T.Fatalf("%s: %v; the page shows:\n%s", what, err, body)
	}
}

// Until waits up to d until the expression js is true, testing it each
// animation frame. While the expression throws (an element it reads is not
// there yet) it counts as false, and a navigation in between (which ends
// the page's script context) is ridden out: js is polled again on the new
// page. The error is the time-out's, or the browser's.
func (b *Tab) Until(js string, d time.Duration) error {
	guarded := `(() => { try { return !!(` + js + `); } catch (e) { return false; } })()`
	end := time.Now().Add(d)
	for {
		_, err := chromedp.Run(b.Ctx, chromedp.Poll[bool](guarded, chromedp.WithPollingTimeout(max(time.Until(end), time.Millisecond))))
		if err == nil || errors.Is(err, chromedp.ErrPollingTimeout) || b.Ctx.Err() != nil || !time.Now().Before(end) {
			return err
		}
		time.Sleep(50 * time.Millisecond) // the page is navigating: poll the next one
	}
}

// Eval returns the string the expression js gives.
func (b *Tab) Eval(js string) string {
	b.T.Helper()
	s, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.T.Fatalf("%s: %v", js, err)
	}
	return s
}

// laidOut is true once the page shown has loaded and has a size (reading
// it lays the page out). A screenshot taken before, during a navigation or
// before the first layout, fails with "Cannot take screenshot with 0 width".
const laidOut = `document.readyState === "complete" && !!document.body &&
	document.documentElement.getBoundingClientRect().width > 0 && document.documentElement.scrollHeight > 0`

// shotWait is how long Shot waits for a laid-out page: generous, for a
// loaded machine and for emulation.
const shotWait = 30 * time.Second

// Shot writes a full-page screenshot named name into Shots. It waits for
// the page to be loaded and laid out first, and takes the screenshot again
// if a navigation came between (the page is then waited for again).
func (b *Tab) Shot(name string) {
	b.T.Helper()
	b.write(name, chromedp.FullScreenshot(100))
}

// ShotScreen is Shot of the window only: what a screen of a fixed size
// (a kiosk's) shows, however long the page.
func (b *Tab) ShotScreen(name string) {
	b.T.Helper()
	b.write(name, chromedp.CaptureScreenshot())
}

// write takes a screenshot with take once the page is laid out and writes
// it as name into Shots.
func (b *Tab) write(name string, take chromedp.Action[[]byte]) {
	b.T.Helper()
	png, err := screenshot(b.Ctx, take, shotWait)
	if err != nil {
		b.T.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(b.Shots, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.T.Fatal(err)
	}
	b.T.Logf("screenshot %s", p)
}

// screenshot takes a screenshot with take (PNG) of the page shown in ctx
// once it is loaded and laid out, trying again for up to d while it is not
// (a page navigating, or not yet laid out, has no size to take).
func screenshot(ctx context.Context, take chromedp.Action[[]byte], d time.Duration) ([]byte, error) {
	deadline := time.Now().Add(d)
	for {
		ready, err := chromedp.Run(ctx, chromedp.Evaluate[bool](laidOut))
		if err == nil && !ready {
			err = errors.New("the page is not laid out")
		}
		if err == nil {
			var png []byte
			if png, err = chromedp.Run(ctx, take); err == nil {
				return png, nil
			}
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return nil, fmt.Errorf("no laid-out page to take in %v: %w", d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Axe runs axe-core's WCAG 2.1 A and AA rules on the page shown; each
// violation is an error of the test.
func (b *Tab) Axe(page string) {
	b.T.Helper()
	if b.Eval(`typeof axe`) != "object" {
		if _, err := chromedp.Run(b.Ctx, chromedp.Evaluate[chromedp.Void](b.axe)); err != nil {
			b.T.Fatal(err)
		}
	}
	out, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`axe.run(document, {runOnly: {type: "tag",
		values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}).then(r => JSON.stringify(r.violations.map(v =>
		({id: v.id, help: v.help, nodes: v.nodes.map(n => n.html.slice(0, 120))}))))`, chromedp.EvalAwaitPromise))
	if err != nil {
		b.T.Fatalf("axe on %s: %v", page, err)
	}
	var vs []struct {
		ID, Help string
		Nodes    []string
	}
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		b.T.Fatalf("axe on %s: %v (%s)", page, err, out)
	}
	for _, v := range vs {
		b.T.Errorf("axe on %s: %s (%s): %v", page, v.ID, v.Help, v.Nodes)
	}
}

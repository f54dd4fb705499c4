package ui

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/drivers/scanner/escl"
	"github.com/einwurf/einwurf/drivers/scanner/sim"
	"github.com/einwurf/einwurf/kiosk/document"
	"github.com/einwurf/einwurf/kiosk/session"
)

type submitter struct{ n int }

func (s *submitter) Submit(_ context.Context, d session.Document) (session.Receipt, error) {
	if _, err := os.Stat(d.PDF); err != nil {
		return session.Receipt{}, err
	}
	s.n++
	return session.Receipt{PacketID: "abc", Number: "ABCD-1234-EF56", Accepted: time.Now()}, nil
}

func newKiosk(t *testing.T) (*session.Kiosk, *submitter, *sim.Server) {
	t.Helper()
	srv, err := sim.Start(sim.Options{Sheets: 2, Duplex: true, Code: "035F083761", BlankBacks: []int{2}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	sub := &submitter{}
	k, err := session.New(session.Config{Scanner: escl.New(&http.Client{}, srv.URL()), Submitter: sub,
		WorkDir:  filepath.Join(t.TempDir(), "visits"),
		Settings: scanner.Settings{Source: scanner.SourceFeeder, Duplex: true, Resolution: 150, ColorMode: scanner.ColorRGB24, Format: scanner.FormatJPEG},
		Document: document.DefaultOptions(), RemoveBlank: true})
	if err != nil {
		t.Fatal(err)
	}
	return k, sub, srv
}

func loopbackServer(t *testing.T, h http.Handler) *httptest.Server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &httptest.Server{Listener: ln, Config: &http.Server{Handler: h}}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func TestRequestChecks(t *testing.T) {
	k, _, _ := newKiosk(t)
	h := New(Config{Kiosk: k})
	defer h.Close()
	s := loopbackServer(t, h)
	// A foreign Host header (DNS rebinding) is refused.
	req, _ := http.NewRequest("GET", s.URL+"/api/view", nil)
	req.Host = "evil.example:8080"
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign host: %v %v", r.StatusCode, err)
	}
	// A form post (cross-site) is refused.
	r, err := http.Post(s.URL+"/api/identify", "application/x-www-form-urlencoded", strings.NewReader("number=035F083761"))
	if err != nil || r.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("form post: %v %v", r.StatusCode, err)
	}
	r, _ = http.Post(s.URL+"/api/identify", "application/json", strings.NewReader(`{"number":"nope"}`))
	if r.StatusCode != http.StatusUnprocessableEntity || k.View().State != session.Idle {
		t.Fatalf("bad number: %d %s", r.StatusCode, k.View().State)
	}
	// Without a simulation there are no simulation routes.
	for _, path := range []string{"/api/sim/barcode", "/sim/api/board"} {
		r, _ = http.Post(s.URL+path, "application/json", strings.NewReader(`{"number":"035F083761"}`))
		if r.StatusCode != http.StatusNotFound && r.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("sim endpoint %s in production: %d", path, r.StatusCode)
		}
	}
}

// chromium returns the browser's path, or skips (fails under CI=true).
func chromium(t *testing.T) string {
	for _, p := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is missing (CI=true)")
	}
	t.Skip("chromium not installed; skipping the browser test")
	return ""
}

func TestVisitInChromium(t *testing.T) {
	browser := chromium(t)
	k, sub, srv := newKiosk(t)
	h := New(Config{Kiosk: k, InjectCode: k.Identify})
	defer h.Close()
	s := loopbackServer(t, h)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 1024))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v (view %+v)", what, err, k.View())
		}
	}
	text := func(sel chromedp.CSS) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	step("open", chromedp.Navigate(s.URL+h.LaunchPath()), chromedp.WaitVisible(chromedp.ID("screen-idle")))
	// A kiosk offers no context menu (long press, right click).
	if prevented, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
		const e = new MouseEvent("contextmenu", {bubbles: true, cancelable: true, button: 2});
		document.getElementById("screen-idle").dispatchEvent(e);
		return e.defaultPrevented; })()`)); err != nil || !prevented {
		t.Fatalf("the context menu is not suppressed: %v %v", prevented, err)
	}
	// A wrong number: a clear message, still on the first screen.
	step("wrong number", chromedp.SendKeys(chromedp.ID("number"), "035F08376"), chromedp.Click(chromedp.ID("identify")),
		chromedp.WaitVisible(chromedp.ID("error")))
	errText := text("#error")
	// The right number, typed.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(document.getElementById('number').value = '', true)`)); err != nil {
		t.Fatal(err)
	}
	step("right number", chromedp.SendKeys(chromedp.ID("number"), "035f083761"),
		chromedp.Click(chromedp.ID("identify")), chromedp.WaitVisible(chromedp.ID("screen-identified")))
	masked := text("#screen-identified .masked")
	step("scan", chromedp.Click(chromedp.ID("scan")), chromedp.WaitVisible(chromedp.ID("screen-review")),
		chromedp.WaitVisible(chromedp.CSS("#pages .page img")))
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`Array.from(document.querySelectorAll('#pages img')).length === 4 &&
			Array.from(document.querySelectorAll('#pages img')).every(i => i.complete && i.naturalWidth > 100)`,
		chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("thumbnails: %v", err)
	}
	kept := text("#kept")
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		if dir := os.Getenv("EINWURF_SCREENSHOTS"); dir != "" {
			os.WriteFile(filepath.Join(dir, "review.png"), png, 0o644)
		}
	}
	step("confirm", chromedp.Click(chromedp.ID("confirm")), chromedp.WaitVisible(chromedp.ID("screen-done")))
	receipt := text("#receipt-number")

	srv.Load(2)
	// The next customer scans first; the number comes from the letter's
	// barcode and the review screen asks them to check it.
	step("next customer", chromedp.Click(chromedp.ID("finish")), chromedp.WaitVisible(chromedp.ID("screen-idle")),
		chromedp.Click(chromedp.ID("scan-first")), chromedp.WaitVisible(chromedp.ID("screen-review")),
		chromedp.WaitVisible(chromedp.ID("prefilled")))
	prefilled := text("#screen-review .masked")
	step("confirm prefilled", chromedp.Click(chromedp.ID("confirm")), chromedp.WaitVisible(chromedp.ID("screen-done")))
	if prefilled != "035F****61" || sub.n != 2 {
		t.Errorf("prefilled number %q, submitted %d", prefilled, sub.n)
	}
	if !strings.Contains(errText, "gültig") {
		t.Errorf("error text %q", errText)
	}
	if masked != "035F****61" {
		t.Errorf("masked number %q", masked)
	}
	if kept != "3" {
		t.Errorf("kept pages %q, want 3 (blank back left out)", kept)
	}
	if receipt != "ABCD-1234-EF56" {
		t.Errorf("receipt %q, submitted %d", receipt, sub.n)
	}
}

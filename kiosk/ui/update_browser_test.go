package ui

import (
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/drivers/scanner/escl"
	"github.com/einwurf/einwurf/drivers/scanner/sim"
	"github.com/einwurf/einwurf/kiosk/document"
	"github.com/einwurf/einwurf/kiosk/session"
)

// updating is the appliance's error while it switches to an update
// (firmware/appliance.ErrUpdating).
type updating struct{}

func (updating) Error() string     { return "out of service for an update" }
func (updating) ReasonKey() string { return "out-of-service.update" }

// While the kiosk switches to an update the idle screen says so in every
// language (axe-checked, screenshots) and offers no way to start a visit.
func TestUpdatingScreenInChromium(t *testing.T) {
	srv, err := sim.Start(sim.Options{Sheets: 1, Code: "035F083761"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	k, err := session.New(session.Config{Scanner: escl.New(&http.Client{}, srv.URL()), Submitter: &gated{hold: make(chan struct{})},
		WorkDir:  filepath.Join(t.TempDir(), "visits"),
		Settings: scanner.Settings{Source: scanner.SourceFeeder, Resolution: 150, ColorMode: scanner.ColorRGB24, Format: scanner.FormatJPEG},
		Document: document.DefaultOptions(), IdleTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	h := New(Config{Kiosk: k, Ready: func() error { return updating{} }})
	defer h.Close()
	s := loopbackServer(t, h)
	b := newBrowser(t, k)
	b.do("open", chromedp.EmulateViewport(1080, 1920), chromedp.Navigate(s.URL+h.LaunchPath()))
	b.wait("ready", `document.body.dataset.ready === "1"`)
	b.screen("idle")
	b.wait("updating", `!document.getElementById("not-ready").hidden &&
		document.getElementById("not-ready-reason").textContent.includes("Update") && document.getElementById("scan-first").disabled`)
	b.check("idle-updating")
}

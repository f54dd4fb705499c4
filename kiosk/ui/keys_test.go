package ui

import (
	"bufio"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/drivers/scanner/escl"
	"github.com/einwurf/einwurf/kiosk/document"
	"github.com/einwurf/einwurf/kiosk/session"
)

// Panel key presses reach every open page as "key" events, names the page
// does not know are dropped, and a press counts as the customer being
// there: no "Noch da?" while someone works the keys.
func TestPanelKeysPushed(t *testing.T) {
	_, _, srv := newKiosk(t)
	clk := &clock{t: time.Now()}
	k, err := session.New(session.Config{Scanner: escl.New(&http.Client{}, srv.URL()), Submitter: &submitter{},
		WorkDir:  filepath.Join(t.TempDir(), "visits"),
		Settings: scanner.Settings{Source: scanner.SourceFeeder, Resolution: 150, ColorMode: scanner.ColorGrayscale8, Format: scanner.FormatJPEG},
		Document: document.DefaultOptions(), IdleTimeout: time.Minute, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	keys := make(chan string)
	h := New(Config{Kiosk: k, Keys: keys})
	defer h.Close()
	s := loopbackServer(t, h)
	var streams []chan string
	for range 2 {
		r, err := http.Get(s.URL + "/api/events")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Body.Close() })
		lines := make(chan string, 64)
		go func() {
			sc := bufio.NewScanner(r.Body)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		if l := <-lines; !strings.HasPrefix(l, "data: {") {
			t.Fatalf("first line %q", l)
		}
		streams = append(streams, lines)
	}
	if err := k.Identify("035F083761"); err != nil {
		t.Fatal(err)
	}
	clk.add(50 * time.Second)
	keys <- "rm -rf" // not a key: dropped
	keys <- "key_next"
	for i, lines := range streams {
		deadline := time.After(10 * time.Second)
	wait:
		for {
			select {
			case l := <-lines:
				if strings.Contains(l, "rm -rf") {
					t.Fatalf("stream %d: an unknown key was pushed: %q", i, l)
				}
				if l == `data: {"key":"key_next"}` {
					break wait
				}
			case <-deadline:
				t.Fatalf("stream %d: no key event", i)
			}
		}
	}
	clk.add(50 * time.Second) // 100 s after the number, 50 s after the key
	k.Tick()
	if v := k.View(); v.IdleWarning || v.State != session.Identified {
		t.Fatalf("after a key press 50 s ago: %+v", v)
	}
	clk.add(20 * time.Second)
	k.Tick()
	if v := k.View(); !v.IdleWarning {
		t.Fatalf("70 s without a key: no idle warning: %+v", v)
	}
}

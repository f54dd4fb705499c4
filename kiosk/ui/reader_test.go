package ui

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/einwurf/einwurf/kiosk/session"
)

// readerDownUI serves a UI whose barcode reader is down while down is set.
func readerDownUI(t *testing.T) (*session.Kiosk, *Handler, *httptest.Server, *atomic.Bool) {
	t.Helper()
	k, _, _ := newKiosk(t)
	down := &atomic.Bool{}
	h := New(Config{Kiosk: k, ReaderDown: down.Load})
	t.Cleanup(h.Close)
	return k, h, loopbackServer(t, h), down
}

// TestReaderDownView: while the barcode reader is known dead the view
// says so (reader_down), else it does not.
func TestReaderDownView(t *testing.T) {
	_, _, s, down := readerDownUI(t)
	view := func() map[string]any {
		t.Helper()
		r, err := http.Get(s.URL + "/api/view")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		var v map[string]any
		if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if _, ok := view()["reader_down"]; ok {
		t.Fatal("reader_down while it works")
	}
	down.Store(true)
	if v := view(); v["reader_down"] != true {
		t.Fatalf("view %v", v)
	}
}

// TestReaderDownInChromium: a customer at a kiosk whose barcode reader is
// dead is not invited to hold their letter under it: the start screen
// says the reader does not work and asks for the number on the keypad,
// in every language (axe-checked, screenshots reader-down-*.png); when the
// reader is back, the invitation is back.
func TestReaderDownInChromium(t *testing.T) {
	k, h, s, down := readerDownUI(t)
	b := newBrowser(t, k)
	b.do("open", chromedp.EmulateViewport(1080, 1920), chromedp.Navigate(s.URL+h.LaunchPath()))
	b.screen("idle")
	b.wait("invitation", `!document.querySelector("#screen-idle .lead").hidden && document.getElementById("reader-down").hidden`)
	down.Store(true)
	b.wait("reader down", `!document.getElementById("reader-down").hidden && document.querySelector("#screen-idle .lead").hidden &&
		!document.querySelector("#screen-idle .to-keypad").disabled`)
	b.check("reader-down")
	b.click("#screen-idle .to-keypad")
	b.screen("keypad")
	b.click("#key-cancel")
	down.Store(false)
	b.screen("idle")
	b.wait("reader back", `!document.querySelector("#screen-idle .lead").hidden && document.getElementById("reader-down").hidden`)
}

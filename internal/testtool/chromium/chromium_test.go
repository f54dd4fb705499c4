package chromium

import (
	"context"
	"errors"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// A condition polled across a navigation, on an element that is not there
// before it: Until rides out both (the script context ending, the
// expression throwing), and the screenshot after it is of the new page; a
// condition that never holds is the poll's time-out.
func TestUntilAndShotAcrossNavigation(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /a", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(`<!doctype html><title>a</title><p>first page</p><script>setTimeout(() => location.href = "/b", 200)</script>`))
	})
	mux.HandleFunc("GET /b", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond) // the navigation takes a while
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(`<!doctype html><title>b</title><p id="late">there</p>`))
	})
	srv := httptest.NewServer(mux) // on 127.0.0.1
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := Start(t, ctx, 400, 300, "testtool-chromium")
	b.Do("open", chromedp.Navigate(srv.URL+"/a"))
	b.Poll("the late element on the next page", `document.getElementById("late").textContent === "there"`, time.Minute)
	b.Shot("b.png")
	f, err := os.Open(filepath.Join(b.Shots, "b.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if im, err := png.Decode(f); err != nil || im.Bounds().Dx() == 0 {
		t.Fatalf("screenshot: %v", err)
	}
	if err := b.Until(`document.title === "never"`, 300*time.Millisecond); !errors.Is(err, chromedp.ErrPollingTimeout) {
		t.Fatalf("a condition that never holds: %v, want the polling time-out", err)
	}
}

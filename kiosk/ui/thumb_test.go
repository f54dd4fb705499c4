package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"testing"

	"github.com/einwurf/einwurf/kiosk/session"
)

// TestThumbnailCapability: a local process that is not the kiosk's browser
// gets no page, neither by sequential index nor with a guessed or old
// capability nor at full size.
func TestThumbnailCapability(t *testing.T) {
	k, _, srv := newKiosk(t)
	h := New(Config{Kiosk: k})
	defer h.Close()
	s := loopbackServer(t, h)
	if err := k.Identify("035F083761"); err != nil {
		t.Fatal(err)
	}
	if err := k.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	get := func(c *http.Client, path string) (int, []byte) {
		t.Helper()
		r, err := c.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r.StatusCode, b
	}
	view := func(c *http.Client) session.View {
		t.Helper()
		_, b := get(c, "/api/view")
		var v session.View
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	other := &http.Client{}

	// The browser is started with a launch path; it is good once.
	launch := h.LaunchPath()
	if code, _ := get(browser, launch); code != http.StatusOK {
		t.Fatalf("launch: %d", code)
	}
	if code, _ := get(other, launch); code != http.StatusForbidden {
		t.Fatalf("a spent launch path: %d", code)
	}
	capability := view(browser).Thumbs
	if len(capability) < 32 || view(other).Thumbs != "" {
		t.Fatalf("capability %q to the browser, %q to another process", capability, view(other).Thumbs)
	}
	ok := fmt.Sprintf("/api/thumb/%s/0?w=240", capability)
	if code, b := get(browser, ok); code != http.StatusOK || string(b[1:4]) != "PNG" {
		t.Fatalf("the browser's thumbnail: %d", code)
	}
	for _, c := range []struct {
		who    *http.Client
		path   string
		status int
	}{
		{other, "/api/thumb/0?w=1200", http.StatusNotFound},  // the old sequential path
		{other, ok, http.StatusForbidden},                    // the capability without the cookie
		{browser, "/api/thumb/0?w=240", http.StatusNotFound}, // the cookie without the capability
		{browser, "/api/thumb/" + guessed(capability) + "/0", http.StatusNotFound},
		{browser, fmt.Sprintf("/api/thumb/%s/0?w=%d", capability, session.MaxThumbWidth+1), http.StatusNotFound},
		{browser, fmt.Sprintf("/api/thumb/%s/0?w=1200", capability), http.StatusNotFound},
	} {
		if code, _ := get(c.who, c.path); code != c.status {
			t.Errorf("GET %s (browser %v): %d, want %d", c.path, c.who == browser, code, c.status)
		}
	}
	// The next visit has a new capability; the old one opens nothing.
	k.Cancel()
	srv.Load(1)
	if err := k.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if next := view(browser).Thumbs; next == capability || next == "" {
		t.Fatalf("capability of the next visit %q", next)
	}
	if code, _ := get(browser, ok); code != http.StatusNotFound {
		t.Fatalf("the previous visit's capability: %d", code)
	}
}

// guessed is a capability one character off the real one: its last
// character is changed, never left as it was (a fixed replacement
// character matched the real one in one run in sixteen).
func guessed(capability string) string {
	last := capability[len(capability)-1]
	other := byte('0')
	if last == other {
		other = '1'
	}
	return capability[:len(capability)-1] + string(other)
}

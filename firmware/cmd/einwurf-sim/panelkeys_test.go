package main

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestPanelKeysReachThePage presses the panel keys on the simulation's
// controls and reads them from the kiosk page's event stream: board/sim's
// lines, the appliance's key watcher and the UI's push, as on a kiosk.
func TestPanelKeysReachThePage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := startSim(ctx, flags{demo: true, data: t.TempDir()}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.app().UIURL+"api/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// The first view arrives first: the stream is subscribed.
	if l := <-lines; !strings.HasPrefix(l, "data: ") {
		t.Fatalf("first line %q", l)
	}
	for _, key := range []string{"key_next", "key_select", "key_repeat", "key_volume_up"} {
		r, err := http.Post(a.app().UIURL+"sim/api/key", "application/json", strings.NewReader(`{"key":"`+key+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusNoContent {
			t.Fatalf("press %s: %s", key, r.Status)
		}
		want := `data: {"key":"` + key + `"}`
		deadline := time.After(10 * time.Second)
	read:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatal("event stream ended")
				}
				if l == want {
					break read
				}
			case <-deadline:
				t.Fatalf("%s did not reach the page", key)
			}
		}
	}
	// Only panel keys are a person's to press here.
	if r, err := http.Post(a.app().UIURL+"sim/api/key", "application/json", strings.NewReader(`{"key":"tamper"}`)); err != nil || r.StatusCode != http.StatusBadRequest {
		t.Fatalf("pressing the tamper switch as a key: %v %v", r, err)
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// ui is the kiosk's screen as einwurfd serves it on the board's loopback.
const ui = "http://127.0.0.1:8080"

// visit plays the customer at the touch screen (vm_visit in the
// environment; scenario 1 of vm_test.go): the number comes from the
// imager on the UART (the host's SSI engine presents it), the init taps
// "scan" once the screen shows the visit identified, the pages come from
// the scanner on usb-redir, and it taps "send" on the review. The kiosk's
// JSON API is what the screen's buttons post. Each step prints an
// "einwurf-vm: visit" line with the state and the time it took, never the
// number or the pages. It reports whether the visit was sent.
func visit() bool {
	start := time.Now()
	c := &http.Client{Timeout: 30 * time.Second}
	step := func(what string, limit time.Duration, want ...string) (map[string]any, error) {
		deadline := time.Now().Add(limit)
		for {
			v, err := view(c)
			if err == nil {
				for _, w := range want {
					if v["state"] == w {
						say("visit: %s (%s) after %d ms", what, w, time.Since(start).Milliseconds())
						return v, nil
					}
				}
			}
			if time.Now().After(deadline) {
				return v, fmt.Errorf("%s: not within %v (state %v, err %v)", what, limit, v["state"], err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if _, err := step("identified by the barcode", 120*time.Second, "identified"); err != nil {
		say("visit failed: %v", err)
		return false
	}
	if err := post(c, "/api/scan"); err != nil { // the screen's "Scannen"
		say("visit failed: scan: %v", err)
		return false
	}
	v, err := step("pages scanned", 180*time.Second, "review")
	if err != nil {
		say("visit failed: %v", err)
		return false
	}
	say("visit: %v sheets scanned, %v pages kept on the review", v["scanned"], v["kept"])
	if err := post(c, "/api/confirm"); err != nil { // "Absenden"
		say("visit failed: confirm: %v", err)
		return false
	}
	if _, err := step("sent", 120*time.Second, "done"); err != nil {
		say("visit failed: %v", err)
		return false
	}
	say("visit done after %d ms", time.Since(start).Milliseconds())
	return true
}

func view(c *http.Client) (map[string]any, error) {
	r, err := c.Get(ui + "/api/view")
	if err != nil {
		return nil, err
	}
	defer r.Body.Close()
	var v map[string]any
	if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

func post(c *http.Client, path string) error {
	r, err := c.Post(ui+path, "application/json", bytes.NewReader([]byte("{}")))
	if err != nil {
		return err
	}
	r.Body.Close()
	if r.StatusCode >= 300 {
		return fmt.Errorf("%s: %s", path, r.Status)
	}
	return nil
}

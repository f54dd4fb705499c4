package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/scanner/escl"
	scannersim "github.com/einwurf/einwurf/drivers/scanner/sim"
	"github.com/einwurf/einwurf/kiosk/session"
)

// postScanner drives the simulation page's API as a person does.
func postScanner(t *testing.T, a *simulation, body string) scannerState {
	t.Helper()
	r, err := http.Post(a.app().UIURL+"sim/api/scanner", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("%s: HTTP %d", body, r.StatusCode)
	}
	var st scannerState
	if err := json.NewDecoder(r.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// visitCase is one visit: the profile, the fault triggered on the
// simulation page before it, and what the customer must see.
type visitCase struct {
	profile, fault string
	pages          int    // pages on the review screen
	missing        int    // pages named missing
	key            string // error the screen explains ("" none)
	jobs           int    // visits before this one on the same device (crash2 crashes on its second job)
}

// TestVisitAgainstEveryProfile runs whole visits in the simulated
// appliance against every device profile, and every fault a person can
// trigger on the simulation page, and checks each ends on the right
// screen and loses no page without telling the customer: all pages are
// there, or the screen names the missing ones or explains the error.
func TestVisitAgainstEveryProfile(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	// Small grey pages keep the many visits quick.
	cfgPath := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfgPath, []byte(`{"scanner":{"resolution":150,"color":"Grayscale8","duplex":true}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := startSim(ctx, flags{demo: true, data: dir, config: cfgPath, code: "035F083761"}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	a.scanner.clientOpts = []escl.Option{escl.WithRetry(3, time.Millisecond, 10*time.Millisecond),
		escl.WithTimeouts(escl.Timeouts{Stall: 2 * time.Second})}

	var cases []visitCase
	for _, p := range scannersim.Profiles() {
		c := visitCase{profile: p, pages: 6}
		switch p {
		case "ignores": // simplex whatever was asked: the odd last page is a front whose back is named missing
			c.pages, c.missing = 3, 1
		case "freeze": // stops mid-page at sheet 2: that page is named missing
			c.pages, c.missing, c.key = 2, 1, "stalled"
		case "crash2": // its second job crashes
			c.pages, c.key, c.jobs = 0, "offline", 1
		}
		cases = append(cases, c)
	}
	for _, f := range []struct {
		fault          string
		pages, missing int
		key            string
	}{
		{"jam", 2, 0, "jam"}, {"double-feed", 2, 0, "double-feed"}, {"cover-open", 2, 0, "cover-open"},
		{"empty", 0, 0, "feeder-empty"}, {"disconnect", 2, 1, "offline"}, {"freeze", 2, 1, "stalled"},
		{"busy", 0, 0, "busy"}, {"stop", 2, 0, "stopped"}, {"page-too-long", 2, 0, "page-too-long"},
	} {
		// Each fault against one of the profiles that report faults
		// differently, in turn.
		p := []string{"spec", "jam200", "end409"}[len(cases)%3]
		cases = append(cases, visitCase{profile: p, fault: f.fault, pages: f.pages, missing: f.missing, key: f.key})
	}
	for _, c := range cases {
		t.Run(c.profile+"/"+c.fault, func(t *testing.T) {
			postScanner(t, a, fmt.Sprintf(`{"profile":%q}`, c.profile))
			for range c.jobs {
				visit(ctx, t, a, visitCase{pages: 6})
			}
			if c.fault != "" {
				if st := postScanner(t, a, fmt.Sprintf(`{"fault":%q,"sheet":2}`, c.fault)); st.Fault != c.fault || st.Profile != c.profile {
					t.Fatalf("simulation page state %+v", st)
				}
			}
			visit(ctx, t, a, c)
		})
	}
	postScanner(t, a, `{"fault":"clear"}`)
}

// visit runs one customer's visit and checks the review screen it ends
// on, then sends or cancels it.
func visit(ctx context.Context, t *testing.T, a *simulation, c visitCase) {
	t.Helper()
	k := a.app().Kiosk
	defer k.Cancel()
	if err := k.Identify("035F083761"); err != nil {
		t.Fatal(err)
	}
	err := k.Scan(ctx)
	v := k.View()
	// With pages the review screen; without, the screen before it, either
	// way with the error explained.
	if want := session.Review; v.State != want && !(v.Scanned == 0 && v.State == session.Identified) {
		t.Fatalf("screen %s after the scan (%v)", v.State, err)
	}
	if v.ErrorKey != c.key || v.Scanned != c.pages || len(v.Missing) != c.missing {
		t.Fatalf("review screen: error %q, %d pages, missing %v; want %q, %d, %d missing (scan: %v)",
			v.ErrorKey, v.Scanned, v.Missing, c.key, c.pages, c.missing, err)
	}
	// The invariant: every page of the three duplex sheets is on the
	// screen, or the screen says what is missing or what went wrong.
	if v.Scanned < 6 && v.ErrorKey == "" && len(v.Missing) == 0 {
		t.Fatalf("%d pages and nothing told", v.Scanned)
	}
	if v.ErrorKey != "" || v.Scanned == 0 {
		return
	}
	if _, err := k.Confirm(ctx); err != nil {
		t.Fatalf("confirm: %v", err)
	}
	if v := k.View(); v.State != session.Done {
		t.Fatalf("screen %s after confirming", v.State)
	}
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/einwurf/einwurf/firmware/appliance"
)

// TestLateStartFailureReturns: a start that fails late — the watchdog
// device cannot be opened, after the uplink, the visit and the panel are
// running — returns its error after stopping what it started, so einwurfd
// exits and systemd starts it again; it does not hang.
func TestLateStartFailureReturns(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	hang := time.AfterFunc(90*time.Second, func() { panic("einwurfd's start hangs after a failed step") })
	defer hang.Stop()
	var startErr error
	k := startTestKiosk(t, kioskOptions{startErr: &startErr, tune: func(p *appliance.Parts) {
		p.Watchdog = filepath.Join(exe, "watchdog") // below a file: cannot be opened
	}})
	if k != nil || startErr == nil || !strings.Contains(startErr.Error(), "watchdog") {
		t.Fatalf("start with a watchdog that cannot be opened: kiosk %v, error %v", k != nil, startErr)
	}
}

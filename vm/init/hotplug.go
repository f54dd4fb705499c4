package main

import (
	"fmt"
	"net/http"
	"os"
	"time"
)

// scannerAbsent is the reason einwurfd's screen gives while the scanner is
// absent (appliance.DeviceFault's ReasonKey).
const scannerAbsent = "out-of-service.technical-fault"

// scannerLink is the link the package's udev rule makes to the scanner's
// USB device node.
const scannerLink = "/dev/einwurf/scanner"

// hotplug is the scanner plugged into the running kiosk (vm_hotplug in
// the environment; TestScannerHotplug in vm_test.go): the board boots
// with no scanner on the bus, and the init waits until einwurfd's screen
// (/api/view on the board's loopback) says the kiosk is out of service for
// it; then it asks the host to plug the scanner in ("hotplug: plug"; the
// host's usbredir peer connects the device) and waits until the kiosk is
// ready, asks for the Kundennummer ("hotplug: present the code"), and
// plays a visit (visit.go). Then it asks the host to unplug the scanner
// and waits until the kiosk is out of service again. Each step is one
// "einwurf-vm: hotplug" line with its time.
func hotplug() {
	start := time.Now()
	c := &http.Client{Timeout: 30 * time.Second}
	wait := func(what string, limit time.Duration, ok func(v map[string]any) bool) error {
		t0 := time.Now()
		deadline := t0.Add(limit)
		for {
			v, err := view(c)
			if err == nil && ok(v) {
				say("hotplug: %s after %d ms (%d ms since ready)", what, time.Since(t0).Milliseconds(), time.Since(start).Milliseconds())
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: not within %v (view %v, err %v)", what, limit, v, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	absent := func(v map[string]any) bool { return v["not_ready_reason"] == scannerAbsent }
	if err := wait("out of service without a scanner ("+scannerAbsent+")", 120*time.Second, absent); err != nil {
		say("hotplug failed: %v", err)
		return
	}
	say("hotplug: plug the scanner in")
	if err := wait("ready with the scanner", 120*time.Second, func(v map[string]any) bool {
		_, notReady := v["not_ready"]
		return !notReady && v["state"] == "idle"
	}); err != nil {
		say("hotplug failed: %v", err)
		return
	}
	// The package's udev rule (70-einwurf.rules) names the scanner's node.
	if l, err := os.Readlink(scannerLink); err == nil {
		say("hotplug: %s -> %s", scannerLink, l)
	} else {
		say("hotplug: %v", err)
	}
	say("hotplug: present the code")
	if !visit() {
		say("hotplug failed: the visit")
		return
	}
	say("hotplug: unplug the scanner")
	if err := wait("out of service again without the scanner", 120*time.Second, absent); err != nil {
		say("hotplug failed: %v", err)
		return
	}
	say("hotplug done")
}

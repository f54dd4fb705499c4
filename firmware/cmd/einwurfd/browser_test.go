//go:build linux

package main

import (
	"context"
	"github.com/einwurf/einwurf/central/keys"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/einwurf/einwurf/board"
	"github.com/einwurf/einwurf/internal/testtool/chromium"
	"github.com/einwurf/einwurf/kiosk/service"
)

// TestServiceDevicesInChromium: on einwurfd with an IPP-over-USB scanner
// (usbtest, release 1.23 in its device descriptor), staff who logged in
// with their badge on the Wiegand reader see the scanner's model and
// firmware in the devices tab, in German and English; the language chosen
// is kept on the kiosk, so a browser started afresh shows it; the page
// passes axe-core's WCAG 2.1 AA rules. Screenshots: $EINWURF_SCREENSHOTS/einwurfd-service.
func TestServiceDevicesInChromium(t *testing.T) {
	k := startTestKiosk(t, kioskOptions{staffList: func(c *keys.Central) []byte { return staffList(t, c.SignKey, 1, staffBadge) }})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b := chromium.Start(t, ctx, 1080, 1400, "einwurfd-service")
	if err := k.board.DriveAsserted(board.ServiceKey, true); err != nil {
		t.Fatal(err)
	}
	if !waitFor(60*time.Second, func() bool { return k.serviceState().State == service.Locked }) {
		t.Fatalf("key turned: %+v", k.serviceState())
	}
	k.badge(staffBadge)
	k.event("service.login", "result=ok")
	b.Do("service screen", chromedp.Navigate(k.a.UIURL+"service/"))
	b.Poll("devices listed", `!document.getElementById("open").hidden && document.querySelectorAll("#devices li").length === 8`, 60*time.Second)
	b.Poll("scanner firmware shown", `document.getElementById("devices").innerText.includes("Firmware: 1.23")`, 60*time.Second)
	b.Axe("devices (de)")
	b.Shot("01-devices-firmware-de.png")
	b.Do("English", chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-lang="en"]').click()`))
	b.Poll("English devices", `document.getElementById("devices").innerText.includes("ready. Feeder") && document.getElementById("devices").innerText.includes("Firmware: 1.23")`, 60*time.Second)
	b.Axe("devices (en)")
	b.Shot("02-devices-firmware-en.png")

	// The choice is kept on the kiosk: a browser started afresh (a new
	// profile, nothing in its storage) shows the staff's screen in English.
	if !waitFor(60*time.Second, func() bool {
		var st struct{ Lang string }
		k.get("service/api/state", &st)
		return st.Lang == "en"
	}) {
		t.Fatal("the language choice did not reach the kiosk")
	}
	fresh := chromium.Start(t, ctx, 1080, 1400, "einwurfd-service")
	fresh.Do("service screen, new browser", chromedp.Navigate(k.a.UIURL+"service/"))
	fresh.Poll("English in a new browser", `document.documentElement.lang === "en" && document.getElementById("devices").innerText.includes("ready. Feeder")`, 60*time.Second)
	fresh.Shot("03-new-browser-still-en.png")
}

// TestUnpluggedScreenInChromium: the customer's screen of einwurfd while
// its IPP-over-USB scanner is unplugged (usbtest) says the kiosk is out of
// service for a technical fault and offers no start; plugged in again, the
// start is offered again. The page passes axe-core's WCAG 2.1 AA rules.
func TestUnpluggedScreenInChromium(t *testing.T) {
	k := startTestKiosk(t, kioskOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b := chromium.Start(t, ctx, 1080, 1920, "einwurfd-service")
	b.Do("customer screen", chromedp.Navigate(strings.TrimSuffix(k.a.UIURL, "/")+k.a.UILaunch()))
	b.Poll("ready", `document.body.dataset.screen === "idle" && document.getElementById("not-ready").hidden`, 60*time.Second)
	k.host.Unplug(k.scanner)
	b.Poll("out of service", `!document.getElementById("not-ready-reason").hidden &&
		document.getElementById("not-ready-reason").innerText.includes("technischen Störung") &&
		document.getElementById("scan-first").disabled`, 30*time.Second)
	b.Axe("customer screen, scanner unplugged")
	b.Shot("10-customer-scanner-unplugged.png")
	k.host.Plug(k.scanner)
	b.Poll("ready again", `document.getElementById("not-ready").hidden && !document.getElementById("scan-first").disabled`, 60*time.Second)
	b.Shot("11-customer-scanner-back.png")
}

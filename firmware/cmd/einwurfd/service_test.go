//go:build linux

package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/einwurf/einwurf/board"
	"github.com/einwurf/einwurf/central/keys"
	"github.com/einwurf/einwurf/drivers/barcode/wiegand"
	"github.com/einwurf/einwurf/drivers/barcode/wiegand/wiegandtest"
	"github.com/einwurf/einwurf/kiosk/service"
	"github.com/einwurf/einwurf/wire"
)

// Staff badges of these tests (Wiegand 26-bit numbers).
const (
	staffBadge = 12345678
	otherBadge = 7654321
	// staffBadge34 is a badge of the 34-bit format (10 digits).
	staffBadge34 = 3000000123
)

// staffList signs a list of the badges with key.
func staffList(t *testing.T, key ed25519.PrivateKey, seq uint64, badges ...uint64) []byte {
	t.Helper()
	l := wire.StaffList{Seq: seq, Issued: time.Now().UTC(), Salt: hex.EncodeToString([]byte("0123456789abcdef"))}
	for _, b := range badges {
		l.Badges = append(l.Badges, wire.BadgeHash(l.Salt, padBadge(b)))
		if b == staffBadge34 {
			l.Badges = append(l.Badges, wire.BadgeHash(l.Salt, uintText(b))) // 10 digits as read
		}
	}
	s, err := wire.SignStaffList(key, l)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// padBadge is the badge number as the 26-bit format reads it: 8 digits.
func padBadge(n uint64) string {
	s := strings.Repeat("0", 8) + uintText(n)
	return s[len(s)-8:]
}

func uintText(n uint64) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
		if n == 0 {
			return string(b)
		}
	}
}

// serviceState is GET /service/api/state.
func (k *testKiosk) serviceState() service.Snapshot {
	var s struct {
		Mode service.Snapshot `json:"mode"`
	}
	k.get("service/api/state", &s)
	return s.Mode
}

// badge holds a staff badge to the Wiegand reader on the panel's lines.
func (k *testKiosk) badge(n uint64) {
	k.t.Helper()
	if err := wiegandtest.Present(k.board, wiegand.Format26.Bits, n); err != nil {
		k.t.Fatal(err)
	}
}

// pushStaffList publishes a signed staff list as the central does
// (einwurf-central staff-push): retained, on the kiosk's staff list topic.
func (k *testKiosk) pushStaffList(b []byte) {
	k.t.Helper()
	if tok := k.pub.Publish(wire.StaffListTopic(testKioskID), 1, true, b); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		k.t.Fatalf("publish staff list: %v", tok.Error())
	}
}

// TestStaffBadgeOnTheKiosk: einwurfd with service.badge_reader "wiegand"
// reads staff badges on the panel's Wiegand lines (26-bit frames pulsed on
// board/sim's GPIO lines) while the imager on the UART stays the
// customers' reader; the staff list comes from the central over mosquitto
// (retained, signed), is stored and used at once; an older or
// foreign-signed list is refused with an alarm and changes nothing.
func TestStaffBadgeOnTheKiosk(t *testing.T) {
	k := startTestKiosk(t, kioskOptions{})
	if !waitFor(10*time.Second, func() bool { return k.view().NotReady == "" }) {
		t.Fatalf("not ready at start: %+v", k.view())
	}
	// The imager is the customers' reader: a number read on it starts a
	// visit. A badge outside service mode opens nothing and starts nothing.
	k.badge(staffBadge)
	if _, err := k.uart.Write([]byte("035F083761\r")); err != nil {
		t.Fatal(err)
	}
	if !waitFor(10*time.Second, func() bool { return k.view().State == "identified" }) {
		t.Fatalf("a number read on the imager started no visit: %+v", k.view())
	}
	if s := k.serviceState(); s.State != service.Closed {
		t.Fatalf("a badge outside service mode: %+v", s)
	}

	// The key: service mode, locked; the visit is wiped.
	if err := k.board.DriveAsserted(board.ServiceKey, true); err != nil {
		t.Fatal(err)
	}
	if !waitFor(10*time.Second, func() bool { return k.serviceState().State == service.Locked }) {
		t.Fatalf("key turned: %+v", k.serviceState())
	}
	k.event("service.visit-wiped", "")
	// No staff list yet: nobody gets in.
	k.badge(staffBadge)
	k.event("service.login", "result=no-staff-list")

	// The central pushes its list.
	listPath := filepath.Join(k.data, "kiosk", "staff-list.json")
	v10 := staffList(t, k.central.SignKey, 10, staffBadge, staffBadge34)
	k.pushStaffList(v10)
	k.event("service.staff-list", "seq=10")
	if b, err := os.ReadFile(listPath); err != nil || !bytes.Equal(b, v10) {
		t.Fatalf("the pushed list is not stored: %v", err)
	}
	k.badge(staffBadge)
	login := k.event("service.login", "result=ok")
	if !strings.Contains(login, "who=badge:") || strings.Contains(login, padBadge(staffBadge)) {
		t.Fatalf("login event: %s", login)
	}
	if s := k.serviceState(); s.State != service.Open || s.Who != "badge" {
		t.Fatalf("after the badge: %+v", s)
	}
	// The devices tab names the scanner's firmware: the USB release
	// number of its device descriptor.
	var st struct {
		Devices []service.Device `json:"devices"`
	}
	k.get("service/api/state", &st)
	if len(st.Devices) == 0 || st.Devices[0].ID != "scanner" || st.Devices[0].Args["firmware"] != "1.23" {
		t.Fatalf("devices: %+v", st.Devices)
	}
	// And the version line names the staff list in use.
	if v := st.Devices[len(st.Devices)-1]; v.ID != "version" || v.Args["staff"] != "10" {
		t.Fatalf("version line: %+v", v)
	}
	logout := func() {
		t.Helper()
		if r, err := http.Post(k.a.UIURL+"service/api/logout", "application/json", strings.NewReader("{}")); err != nil || r.StatusCode != 200 {
			t.Fatalf("logout: %v %v", r, err)
		}
	}
	logout()
	// A 34-bit badge frame logs in as well.
	if err := wiegandtest.Present(k.board, wiegand.Format34.Bits, staffBadge34); err != nil {
		t.Fatal(err)
	}
	k.event("service.login", "result=ok")
	if s := k.serviceState(); s.State != service.Open {
		t.Fatalf("after the 34-bit badge: %+v", s)
	}
	logout()

	// An older list (a replay) and one signed by someone else: refused,
	// reported, nothing changed: their badge does not open, ours does.
	_, foreign, _ := ed25519.GenerateKey(nil)
	// The central clearing the retained topic (an empty message) is no
	// list and no refusal: the list held stays (checked below: no
	// "malformed" alarm came before the next refusal).
	k.pushStaffList(nil)
	for _, c := range []struct {
		list  []byte
		cause string
	}{{staffList(t, k.central.SignKey, 5, otherBadge), "stale"}, {staffList(t, foreign, 20, otherBadge), "signature"}} {
		k.pushStaffList(c.list)
		k.event("service.staff-list-refused", `"detail":"`+c.cause+`"`)
		if b, _ := os.ReadFile(listPath); !bytes.Equal(b, v10) {
			t.Fatalf("a %s list changed the stored one", c.cause)
		}
		k.badge(otherBadge)
		k.event("service.login", "result=not-staff")
	}
	for _, e := range k.seen {
		if strings.Contains(e, "staff-list-refused") {
			t.Errorf("an unexpected refusal: %s", e)
		}
	}
	k.badge(staffBadge)
	k.event("service.login", "result=ok")
}

// TestWaitingWarnFromConfig: service.waiting_warn reaches service mode's
// connection line: a document waiting 30 minutes for the central's
// receipt is yellow with a 20-minute threshold (green with the default
// hour).
func TestWaitingWarnFromConfig(t *testing.T) {
	k := startTestKiosk(t, kioskOptions{
		staffList: func(c *keys.Central) []byte { return staffList(t, c.SignKey, 1, staffBadge) },
		service:   map[string]any{"badge_reader": "wiegand", "waiting_warn": "20m"}})
	// A sealed document that has waited 30 minutes (the test's broker has
	// no ingest, so no receipt takes it out).
	p, err := k.a.Spool.Create()
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte("age-encrypted bytes stand-in")
	p.Write(payload)
	sum := sha256.Sum256(payload)
	m := wire.Manifest{V: 1, PacketID: "0123456789abcdef0123456789abcdef", KioskID: testKioskID,
		Created: time.Now().Add(-30 * time.Minute).UTC(), Size: int64(len(payload)), SHA256: hex.EncodeToString(sum[:]), ChunkSize: wire.ChunkSize}
	_, key, _ := ed25519.GenerateKey(nil)
	signed, _ := wire.Sign(key, wire.TypeManifest, m)
	if err := p.Commit(m, signed); err != nil {
		t.Fatal(err)
	}
	if err := k.board.DriveAsserted(board.ServiceKey, true); err != nil {
		t.Fatal(err)
	}
	if !waitFor(10*time.Second, func() bool { return k.serviceState().State == service.Locked }) {
		t.Fatalf("key turned: %+v", k.serviceState())
	}
	k.badge(staffBadge)
	// (Not the login event: the uplink sends events after the packet's
	// offer has waited for progress, which this broker never sends.)
	if !waitFor(10*time.Second, func() bool { return k.serviceState().State == service.Open }) {
		t.Fatalf("badge: %+v", k.serviceState())
	}
	var up service.Device
	if !waitFor(10*time.Second, func() bool {
		var st struct {
			Devices []service.Device `json:"devices"`
		}
		k.get("service/api/state", &st)
		for _, d := range st.Devices {
			if d.ID == "uplink" {
				up = d
			}
		}
		return up.Args["waiting"] == "1"
	}) {
		t.Fatalf("the document is not counted: %+v", up)
	}
	if up.Light != service.Yellow {
		t.Fatalf("30 minutes waiting, warn after 20: %+v", up)
	}
}

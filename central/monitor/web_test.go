package monitor

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/einwurf/einwurf/central/store"
	"github.com/einwurf/einwurf/wire"
)

// browser is an HTTP client with a cookie jar against the dashboard.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func (f *fixture) serve() string {
	srv := httptest.NewServer(f.m.Handler())
	f.t.Cleanup(srv.Close)
	return srv.URL
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (b *browser) post(path string, form url.Values, hdr ...string) (int, string) {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

func (b *browser) csrf(path string) string {
	b.t.Helper()
	_, body := b.get(path)
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("no CSRF token on %s", path)
	}
	return m[1]
}

func (b *browser) login(user, pw string) int {
	code, _ := b.post("/login", url.Values{"login": {user}, "password": {pw}})
	return code
}

func (f *fixture) account(login, role string) {
	f.t.Helper()
	must(f.t, AddAccount(context.Background(), f.st, login, role, "a long enough password", f.now()))
}

func TestLoginRolesCSRF(t *testing.T) {
	f := newFixture(t)
	base := f.serve()
	f.account("ada", RoleAdmin)
	f.account("vic", RoleViewer)
	must(t, f.handle(wire.StatusTopic("k-1"), wire.Status{KioskID: "k-1", Online: true}))

	anon := newBrowser(t, base)
	if code, _ := anon.get("/"); code != http.StatusSeeOther {
		t.Fatalf("anonymous fleet: %d", code)
	}
	if code, _ := anon.get("/fleet/rows"); code != http.StatusUnauthorized {
		t.Fatalf("anonymous rows: %d", code)
	}
	if code := anon.login("ada", "wrong password!!"); code != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", code)
	}
	if code := anon.login("nobody", "a long enough password"); code != http.StatusUnauthorized {
		t.Fatalf("unknown login: %d", code)
	}
	// A login posted from another site is refused.
	if code, _ := anon.post("/login", url.Values{"login": {"ada"}, "password": {"a long enough password"}}, "Origin", "https://evil.example"); code != http.StatusForbidden {
		t.Fatalf("cross-site login: %d", code)
	}

	viewer := newBrowser(t, base)
	if code := viewer.login("vic", "a long enough password"); code != http.StatusSeeOther {
		t.Fatalf("viewer login: %d", code)
	}
	code, body := viewer.get("/")
	if code != 200 || !strings.Contains(body, `id="k-k-1"`) {
		t.Fatalf("viewer fleet: %d", code)
	}
	tok := viewer.csrf("/")
	if code, _ := viewer.post("/commands", url.Values{"csrf": {tok}, "kiosk": {"k-1"}, "kind": {wire.CmdReboot}}); code != http.StatusForbidden {
		t.Fatalf("viewer sent a command: %d", code)
	}

	admin := newBrowser(t, base)
	if code := admin.login("ada", "a long enough password"); code != http.StatusSeeOther {
		t.Fatalf("admin login: %d", code)
	}
	// Without the token, with another session's token, or from another
	// site: refused, nothing sent.
	for _, form := range []url.Values{
		{"kiosk": {"k-1"}, "kind": {wire.CmdReboot}},
		{"csrf": {tok}, "kiosk": {"k-1"}, "kind": {wire.CmdReboot}},
	} {
		if code, _ := admin.post("/commands", form); code != http.StatusForbidden {
			t.Fatalf("command without own CSRF token: %d", code)
		}
	}
	atok := admin.csrf("/")
	if code, _ := admin.post("/commands", url.Values{"csrf": {atok}, "kiosk": {"k-1"}, "kind": {wire.CmdReboot}}, "Sec-Fetch-Site", "cross-site"); code != http.StatusForbidden {
		t.Fatalf("cross-site command: %d", code)
	}
	if len(f.out) != 0 {
		t.Fatalf("refused requests sent %d commands", len(f.out))
	}
	if code, _ := admin.post("/commands", url.Values{"csrf": {atok}, "kiosk": {"k-1"}, "kind": {wire.CmdReboot}}); code != http.StatusSeeOther {
		t.Fatalf("admin command: %d", code)
	}
	if len(f.out) != 1 {
		t.Fatalf("%d commands sent", len(f.out))
	}
	_, body = admin.get("/commands")
	if !strings.Contains(body, ">ada<") || !strings.Contains(body, wire.CmdReboot) {
		t.Fatal("audit log does not show the command")
	}

	// Sessions expire.
	f.advance(8*time.Hour + time.Second)
	if code, _ := admin.get("/"); code != http.StatusSeeOther {
		t.Fatalf("expired session still valid: %d", code)
	}
	// Logging out ends the session on the server too.
	f.advance(-8 * time.Hour)
	other := newBrowser(t, base)
	other.login("vic", "a long enough password")
	otok := other.csrf("/")
	u, _ := url.Parse(base)
	saved := other.c.Jar.Cookies(u)
	other.post("/logout", url.Values{"csrf": {otok}})
	replay := newBrowser(t, base)
	replay.c.Jar.SetCookies(u, saved)
	if code, _ := replay.get("/"); code != http.StatusSeeOther {
		t.Fatalf("session alive after logout: %d", code)
	}
}

func TestAlarmAckAndClear(t *testing.T) {
	f := newFixture(t)
	base := f.serve()
	f.account("olga", RoleOperator)
	must(t, f.handle(wire.EventTopic("k-1"), wire.Event{KioskID: "k-1", Severity: wire.SeverityAlarm, Code: "tamper", Time: f.now()}))
	a := f.openAlarms()[0]
	b := newBrowser(t, base)
	b.login("olga", "a long enough password")
	tok := b.csrf("/alarms")
	if code, _ := b.post("/alarms/"+itoa(a.ID)+"/ack", url.Values{"csrf": {tok}}); code != http.StatusSeeOther {
		t.Fatalf("ack: %d", code)
	}
	got := f.openAlarms()[0]
	if got.AckedBy != "olga" || !got.AckedAt.Equal(f.now()) {
		t.Fatalf("ack not recorded: %+v", got)
	}
	if code, _ := b.post("/alarms/"+itoa(a.ID)+"/clear", url.Values{"csrf": {tok}}); code != http.StatusSeeOther {
		t.Fatalf("clear: %d", code)
	}
	if len(f.openAlarms()) != 0 {
		t.Fatal("alarm not cleared")
	}
	if code, _ := b.post("/alarms/999/ack", url.Values{"csrf": {tok}}); code != http.StatusNotFound {
		t.Fatalf("unknown alarm: %d", code)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestMetricsLint(t *testing.T) {
	f := newFixture(t)
	base := f.serve()
	must(t, f.handle(wire.TelemetryTopic("k-1"), wire.Telemetry{KioskID: "k-1", SpoolEntries: 2, Oldest: f.now().Add(-time.Hour), Sent: 5, Pages: 20, TempMilliC: 40000, DiskState: "ok"}))
	must(t, f.handle(wire.StatusTopic("k-2"), wire.Status{KioskID: "k-2", Online: false}))
	f.handle(wire.StatusTopic("k-9"), wire.Status{KioskID: "k-9"}) // dropped, counted
	resp, err := http.Get(base + "/metrics")
	must(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	problems, err := promlint.New(strings.NewReader(string(body))).Lint()
	must(t, err)
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	for _, want := range []string{
		`einwurf_kiosk_up{kiosk="k-1",site=""} 1`,
		`einwurf_kiosk_up{kiosk="k-2",site=""} 0`,
		`einwurf_kiosk_spool_documents{kiosk="k-1",site=""} 2`,
		`einwurf_kiosk_spool_oldest_age_seconds{kiosk="k-1",site=""} 3600`,
		`einwurf_kiosk_temperature_celsius{kiosk="k-1",site=""} 40`,
		`einwurf_kiosk_delivered_documents_total{kiosk="k-1",site=""} 5`,
		`einwurf_alarms_open{severity="warning"} 1`,
		`einwurf_monitor_messages_total{result="dropped"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestLookup(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	base := f.serve()
	f.account("cora", RoleViewer)
	st := wire.Statement{KioskID: "k-1", PacketID: "0123456789abcdef", Accepted: f.now().Add(-time.Hour).Truncate(time.Second), Pages: 3, Code: "7KQ4-M2XD"}
	text, err := st.Sign(f.kiosk["k-1"])
	must(t, err)
	must(t, f.st.Record(ctx, store.FiledPacket{KioskID: "k-1", PacketID: st.PacketID, Status: wire.ReceiptFiled, Receipt: []byte("r"),
		ReceiptCode: st.Code, Team: "leistung", Pages: 3, Created: st.Accepted, Received: f.now()}))
	_, foreign, _ := ed25519.GenerateKey(nil)
	forged, err := st.Sign(foreign)
	must(t, err)
	unknown := wire.Statement{KioskID: "k-1", PacketID: "fedcba9876543210", Accepted: st.Accepted, Pages: 1, Code: "ZZZZ-ZZZZ"}
	pending, err := unknown.Sign(f.kiosk["k-1"])
	must(t, err)

	b := newBrowser(t, base)
	b.login("cora", "a long enough password")
	tok := b.csrf("/lookup")
	cases := []struct{ in, want, absent string }{
		{"7KQ4-M2XD", "Filed into the leistung team inbox", ""},
		{"7kq4 m2xd", "Filed into the leistung team inbox", ""},
		{text, "valid, signed by kiosk k-1", ""},
		{forged, "signature is not valid", "leistung"},
		{pending, "The receipt is genuine", "leistung"},
		{"NOPE-NOPE", "No document with this receipt", "leistung"},
		{"EW1:garbage", "signature is not valid", "leistung"},
	}
	for _, c := range cases {
		code, body := b.post("/lookup", url.Values{"csrf": {tok}, "code": {c.in}})
		if code != 200 || !strings.Contains(body, c.want) || (c.absent != "" && strings.Contains(body, c.absent)) {
			t.Errorf("look-up %.20q: %d, want %q:\n%s", c.in, code, c.want, resultOf(body))
		}
	}
	// After a key rotation the receipts signed with the old key still verify.
	newPub, _, _ := ed25519.GenerateKey(nil)
	must(t, f.reg.Enrol("k-1", newPub))
	if _, body := b.post("/lookup", url.Values{"csrf": {tok}, "code": {text}}); !strings.Contains(body, "valid, signed by kiosk k-1") {
		t.Errorf("statement of a retired key: %s", resultOf(body))
	}
}

func resultOf(body string) string {
	if i := strings.Index(body, `id="result"`); i >= 0 {
		return body[i:min(len(body), i+600)]
	}
	return body[:min(len(body), 300)]
}

func TestPlots(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 30; i++ {
		must(t, f.handle(wire.TelemetryTopic("k-1"), wire.Telemetry{KioskID: "k-1", SpoolEntries: i % 5, Sent: int64(3 * i), Pages: int64(12 * i), TempMilliC: 40000 + 100*i}))
		f.advance(30 * time.Minute)
	}
	base := f.serve()
	f.account("vic", RoleViewer)
	b := newBrowser(t, base)
	b.login("vic", "a long enough password")
	code, body := b.get("/kiosk/k-1")
	if code != 200 {
		t.Fatalf("kiosk page %d", code)
	}
	if n := strings.Count(body, "<svg"); n != 4 {
		t.Fatalf("%d plots", n)
	}
	// Deliveries per hour: 3 every half hour, 6 per full hour.
	if !strings.Contains(body, "highest 6 documents") && !strings.Contains(body, "highest 6,") {
		t.Errorf("deliveries per hour not summed: %s", between(body, "pl-sent-d", "</desc>"))
	}
	if !strings.Contains(body, "polyline") || !strings.Contains(body, "<rect") {
		t.Error("plots lack lines or bars")
	}
	if code, _ := b.get("/kiosk/k-404"); code != http.StatusNotFound {
		t.Errorf("unknown kiosk: %d", code)
	}
}

func between(s, a, b string) string {
	i := strings.Index(s, a)
	if i < 0 {
		return ""
	}
	j := strings.Index(s[i:], b)
	if j < 0 {
		return s[i:]
	}
	return s[i : i+j]
}

func TestSitesNamesAndRollout(t *testing.T) {
	f := newFixture(t)
	base := f.serve()
	f.account("ada", RoleAdmin)
	f.account("olga", RoleOperator)
	must(t, f.handle(wire.StatusTopic("k-1"), wire.Status{KioskID: "k-1", Online: true}))
	must(t, f.handle(wire.StatusTopic("k-2"), wire.Status{KioskID: "k-2", Online: true}))
	must(t, f.handle(wire.UpdateReportTopic("k-2"), f.signed("k-2", wire.TypeUpdateReport,
		wire.UpdateReport{KioskID: "k-2", RolloutID: "r1", Version: "1.4.0", State: wire.UpdateDownloading, Progress: 0.5})))
	if k := f.state("k-2"); k.Rollout != wire.UpdateDownloading || k.RolloutDetail != "1.4.0, 50 %" {
		t.Fatalf("rollout %+v", k)
	}
	if err := f.handle(wire.UpdateReportTopic("k-2"), f.signed("k-1", wire.TypeUpdateReport, wire.UpdateReport{KioskID: "k-2", State: "committed"})); !errors.Is(err, ErrMessage) {
		t.Fatalf("forged report: %v", err)
	}

	op := newBrowser(t, base)
	op.login("olga", "a long enough password")
	if code, _ := op.post("/kiosk/k-1/name", url.Values{"csrf": {op.csrf("/")}, "site": {"jc-nord"}, "name": {"Eingang"}}); code != http.StatusForbidden {
		t.Fatalf("operator renamed: %d", code)
	}
	ad := newBrowser(t, base)
	ad.login("ada", "a long enough password")
	tok := ad.csrf("/")
	if code, _ := ad.post("/kiosk/k-1/name", url.Values{"csrf": {tok}, "site": {"jc-nord"}, "name": {"Eingang"}}); code != http.StatusSeeOther {
		t.Fatalf("rename: %d", code)
	}
	if code, _ := ad.post("/kiosk/k-1/name", url.Values{"csrf": {tok}, "site": {"a\x00b"}}); code != http.StatusBadRequest {
		t.Fatalf("control characters accepted: %d", code)
	}
	// A birth without a site keeps the operators' site.
	must(t, f.handle(wire.BirthTopic("k-1"), f.signed("k-1", wire.TypeBirth, wire.Birth{KioskID: "k-1", Seq: 1})))
	if k := f.state("k-1"); k.Site != "jc-nord" || k.Name != "Eingang" {
		t.Fatalf("after rename and birth: %+v", k)
	}
	_, body := ad.get("/?site=jc-nord")
	if !strings.Contains(body, `id="k-k-1"`) || strings.Contains(body, `id="k-k-2"`) || !strings.Contains(body, "Eingang") {
		t.Fatal("site filter shows the wrong kiosks")
	}
	_, body = ad.get("/?col=slot")
	if !strings.Contains(body, "downloading (1.4.0, 50 %)") {
		t.Fatal("rollout state not in the fleet table")
	}
	// Sorted by site descending, k-1 (jc-nord) comes before k-2 (no site).
	_, body = ad.get("/?sort=site&desc=1")
	if i, j := strings.Index(body, `id="k-k-1"`), strings.Index(body, `id="k-k-2"`); i < 0 || j < 0 || i > j {
		t.Fatal("sort by site descending")
	}
	_, body = ad.get("/?sort=site")
	if i, j := strings.Index(body, `id="k-k-1"`), strings.Index(body, `id="k-k-2"`); i < 0 || j < 0 || i < j {
		t.Fatal("sort by site ascending")
	}
}

// TestLoginsQueue checks that password checks beyond maxHashing wait:
// a flood of logins cannot take 64 MiB each at once.
func TestLoginsQueue(t *testing.T) {
	f := newFixture(t)
	f.account("ada", RoleAdmin)
	for range maxHashing {
		f.m.hashing <- struct{}{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := f.m.login(ctx, "ada", "a long enough password"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("login with every slot taken: %v", err)
	}
	<-f.m.hashing
	if _, err := f.m.login(context.Background(), "ada", "a long enough password"); err != nil {
		t.Fatalf("login with a slot free: %v", err)
	}
}

// TestMetricsBearerToken: with a token set, /metrics answers only a
// scraper that presents it; an operator's login is not enough either.
func TestMetricsBearerToken(t *testing.T) {
	f := newFixture(t)
	f.m.cfg.MetricsToken = "s3cret-scrape-token-0123456789"
	base := f.serve()
	for _, c := range []struct {
		auth string
		want int
	}{
		{"", http.StatusUnauthorized},
		{"Bearer wrong", http.StatusUnauthorized},
		{"Bearer s3cret-scrape-token-012345678", http.StatusUnauthorized},
		{"Basic czNjcmV0LXNjcmFwZS10b2tlbi0wMTIzNDU2Nzg5", http.StatusUnauthorized},
		{"Bearer s3cret-scrape-token-0123456789", http.StatusOK},
	} {
		req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("Authorization %q: %d, want %d", c.auth, resp.StatusCode, c.want)
		}
		if c.want == http.StatusUnauthorized && (resp.Header.Get("WWW-Authenticate") == "" || strings.Contains(string(body), "einwurf_")) {
			t.Errorf("Authorization %q: refused without a challenge, or with metrics in the body", c.auth)
		}
		if c.want == http.StatusOK && !strings.Contains(string(body), "# TYPE einwurf_") {
			t.Errorf("the scraper's metrics lack the monitor's counters")
		}
	}
}

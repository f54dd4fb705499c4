package monitor

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// postTo posts a form and returns the status and the redirect's target.
func (b *browser) postTo(path string, form url.Values) (int, string) {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// TestAccountsPage: an admin creates an account on the dashboard (it can
// log in), changes its role (it may then do more), disables it (its open
// session stops working, its password no longer logs in) and enables it
// again; every change is in the accounts' log. Only admins see the page;
// a form without the session's token changes nothing; nobody can lock the
// admins out (an admin's own account, the last admin).
func TestAccountsPage(t *testing.T) {
	// Each login costs an argon2id check (64 MiB, slow under emulation):
	// the test logs in as few times as it can.
	f := newFixture(t)
	base := f.serve()
	f.account("ada", RoleAdmin)
	ad := newBrowser(t, base)
	ad.login("ada", "a long enough password")
	tok := ad.csrf("/accounts")
	if code, _ := ad.post("/accounts", url.Values{"login": {"vic"}, "role": {RoleViewer}, "password": {"a long enough password"}}); code != http.StatusForbidden {
		t.Fatalf("create without the CSRF token: %d", code)
	}
	for _, bad := range []url.Values{
		{"login": {"vic"}, "role": {RoleViewer}, "password": {"short"}},
		{"login": {"vic ç"}, "role": {RoleViewer}, "password": {"a long enough password"}},
		{"login": {"vic"}, "role": {"root"}, "password": {"a long enough password"}},
		{"login": {"ada"}, "role": {RoleViewer}, "password": {"a long enough password"}},
	} {
		bad.Set("csrf", tok)
		if code, loc := ad.postTo("/accounts", bad); code != http.StatusSeeOther || !strings.Contains(loc, "error=") {
			t.Fatalf("refused create %v: %d %s", bad, code, loc)
		}
	}
	if a, _ := f.st.Account(t.Context(), "ada"); a.Role != RoleAdmin {
		t.Fatal("an existing account was replaced")
	}
	if code, loc := ad.postTo("/accounts", url.Values{"csrf": {tok}, "login": {"vic"}, "role": {RoleViewer}, "password": {"vic's long password"}}); code != http.StatusSeeOther || loc != "/accounts?done=created" {
		t.Fatalf("create: %d %s", code, loc)
	}
	vic := newBrowser(t, base)
	if code := vic.login("vic", "vic's long password"); code != http.StatusSeeOther {
		t.Fatalf("the new account cannot log in: %d", code)
	}
	vtok := vic.csrf("/")
	if code, _ := vic.get("/accounts"); code != http.StatusForbidden {
		t.Fatalf("a viewer sees the accounts: %d", code)
	}
	if code, _ := vic.post("/accounts", url.Values{"csrf": {vtok}, "login": {"mallory"}, "role": {RoleAdmin}, "password": {"a long enough password"}}); code != http.StatusForbidden {
		t.Fatalf("a viewer created an account: %d", code)
	}
	if code, _ := vic.post("/commands", url.Values{"csrf": {vtok}, "kiosk": {"k-1"}, "kind": {"reboot"}}); code != http.StatusForbidden {
		t.Fatalf("viewer sent a command: %d", code)
	}
	// Operator now: the same session may send.
	if code, loc := ad.postTo("/accounts/vic/role", url.Values{"csrf": {tok}, "role": {RoleOperator}}); code != http.StatusSeeOther || loc != "/accounts?done=role" {
		t.Fatalf("role: %d %s", code, loc)
	}
	if code, _ := vic.post("/commands", url.Values{"csrf": {vtok}, "kiosk": {"k-1"}, "kind": {"reboot"}}); code != http.StatusSeeOther {
		t.Fatalf("operator could not send: %d", code)
	}
	// Disabled: the open session ends, the password does not log in.
	if code, _ := ad.postTo("/accounts/vic/disable", url.Values{"csrf": {tok}}); code != http.StatusSeeOther {
		t.Fatalf("disable: %d", code)
	}
	if code, _ := vic.get("/"); code != http.StatusSeeOther {
		t.Fatalf("a disabled account's session still works: %d", code)
	}
	if code := newBrowser(t, base).login("vic", "vic's long password"); code == http.StatusSeeOther {
		t.Fatal("a disabled account logged in")
	}
	if code, _ := ad.postTo("/accounts/vic/enable", url.Values{"csrf": {tok}}); code != http.StatusSeeOther {
		t.Fatalf("enable: %d", code)
	}
	if code := vic.login("vic", "vic's long password"); code != http.StatusSeeOther {
		t.Fatalf("an enabled account cannot log in: %d", code)
	}
	// Nobody locks the admins out.
	for _, c := range []struct{ path, role string }{{"/accounts/ada/disable", ""}, {"/accounts/ada/role", RoleViewer}} {
		if code, loc := ad.postTo(c.path, url.Values{"csrf": {tok}, "role": {c.role}}); code != http.StatusSeeOther || !strings.Contains(loc, "error=") {
			t.Fatalf("%s: %d %s", c.path, code, loc)
		}
	}
	// Every change is in the log.
	must(t, f.m.changeAccount(t.Context(), "ada", "vic", "role", RoleAdmin))
	_, page := ad.get("/accounts")
	log := between(page, `id="account-log"`, "</table>")
	for _, want := range []string{"created (viewer)", "role (operator)", "disabled", "enabled", "role (admin)"} {
		if !strings.Contains(log, want) {
			t.Errorf("accounts' log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(page, "$argon2id") {
		t.Error("the page shows password hashes")
	}
	// With two admins one may be disabled, the last one not.
	if err := f.m.changeAccount(t.Context(), "vic", "ada", "disable", ""); err != nil {
		t.Fatalf("with two admins one may be disabled: %v", err)
	}
	if err := f.m.changeAccount(t.Context(), "ada", "vic", "disable", ""); err != ErrLastAdmin {
		t.Fatalf("the last admin disabled: %v", err)
	}
	if code, _ := ad.get("/accounts"); code != http.StatusSeeOther {
		t.Fatalf("a disabled admin still in: %d", code)
	}
}

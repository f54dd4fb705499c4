package monitor

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/einwurf/einwurf/central/store"
)

// Roles of operators, each allowed what the one before it may do.
const (
	RoleViewer   = "viewer"   // sees the fleet, alarms, audit log; looks up receipts
	RoleOperator = "operator" // also acknowledges and clears alarms, sends commands
	RoleAdmin    = "admin"    // also manages accounts
)

func roleRank(r string) int {
	switch r {
	case RoleViewer:
		return 1
	case RoleOperator:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// ValidRole reports whether r is a role.
func ValidRole(r string) bool { return roleRank(r) > 0 }

// Errors of accounts and passwords.
var (
	ErrPassword   = errors.New("monitor: wrong login or password")
	ErrWeak       = errors.New("monitor: password too short (at least 12 characters)")
	ErrRole       = errors.New("monitor: unknown role")
	ErrLogin      = errors.New("monitor: login must be 1-64 letters, digits, '.', '-' or '_'")
	errHashFormat = errors.New("monitor: not an argon2id hash")
)

// Argon2id parameters (RFC 9106's second recommendation: 64 MiB, 3 passes).
const (
	argonTime    = 3
	argonMemory  = 64 << 10 // KiB
	argonThreads = 2
	argonKeyLen  = 32
)

// HashPassword returns the argon2id hash of pw as a PHC string.
func HashPassword(pw string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	h := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(h)), nil
}

// CheckPassword reports whether pw matches the PHC string hash.
func CheckPassword(hash, pw string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return false, errHashFormat
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 || m > 1<<21 || t > 32 {
		return false, errHashFormat
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 || len(want) > 128 {
		return false, errHashFormat
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

func validLogin(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// AddAccount creates or replaces an operator account with a fresh hash of
// password. The first admin is made this way, by the command line; there
// is no default password.
func AddAccount(ctx context.Context, s store.Accounts, login, role, password string, created time.Time) error {
	if !validLogin(login) {
		return ErrLogin
	}
	if !ValidRole(role) {
		return ErrRole
	}
	if len([]rune(password)) < 12 {
		return ErrWeak
	}
	h, err := HashPassword(password)
	if err != nil {
		return err
	}
	return s.PutAccount(ctx, store.Account{Login: login, Hash: h, Role: role, Created: created.UTC()})
}

// Session cookie and form field names.
const (
	sessionCookie = "einwurf_session"
	csrfField     = "csrf"
)

// user is a logged-in operator.
type user struct {
	Login, Role string
	token       string // the session token, from the cookie
}

// can reports whether u's role includes role.
func (u *user) can(role string) bool { return u != nil && roleRank(u.Role) >= roleRank(role) }

// csrf is the token forms carry: bound to the session, so a page of
// another site cannot know it.
func (u *user) csrf() string {
	mac := hmac.New(sha256.New, []byte(u.token))
	mac.Write([]byte("einwurf csrf"))
	return hex.EncodeToString(mac.Sum(nil))
}

func tokenHash(tok string) string {
	s := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(s[:])
}

// maxHashing bounds the password checks running at once: each takes
// 64 MiB, so a flood of logins must queue, not exhaust the memory.
const maxHashing = 2

// login checks the password and starts a session; it returns the cookie.
func (m *Monitor) login(ctx context.Context, login, pw string) (*http.Cookie, error) {
	select {
	case m.hashing <- struct{}{}:
		defer func() { <-m.hashing }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	a, err := m.cfg.Store.Account(ctx, login)
	if errors.Is(err, store.ErrNotFound) || (err == nil && disabled(a)) {
		// Spend the same time as a wrong password, so logins cannot be
		// probed by timing (nor disabled accounts told apart).
		CheckPassword(dummyHash, pw)
		return nil, ErrPassword
	}
	if err != nil {
		return nil, err
	}
	ok, err := CheckPassword(a.Hash, pw)
	if err != nil || !ok {
		return nil, ErrPassword
	}
	var b [32]byte
	rand.Read(b[:])
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	exp := m.now().Add(m.cfg.SessionTTL)
	if err := m.cfg.Store.PutSession(ctx, tokenHash(tok), a.Login, exp); err != nil {
		return nil, err
	}
	return &http.Cookie{Name: sessionCookie, Value: tok, Path: "/", MaxAge: int(m.cfg.SessionTTL.Seconds()), HttpOnly: true,
		Secure: m.cfg.SecureCookies, SameSite: http.SameSiteStrictMode}, nil
}

// dummyHash is checked against when a login does not exist.
const dummyHash = "$argon2id$v=19$m=65536,t=3,p=2$c29tZXNhbHRzb21lc2FsdA$R0o9nhzWm0M8o6rYQf5B1T8o0y4nq3s3N6n5nq3s3N4"

// user returns the operator of r's session, or nil.
func (m *Monitor) user(r *http.Request) *user {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return nil
	}
	login, err := m.cfg.Store.Session(r.Context(), tokenHash(c.Value), m.now())
	if err != nil {
		return nil
	}
	a, err := m.cfg.Store.Account(r.Context(), login)
	if err != nil || disabled(a) {
		return nil
	}
	return &user{Login: a.Login, Role: a.Role, token: c.Value}
}

// sameOrigin refuses requests a browser marks as coming from another site
// (Sec-Fetch-Site, Origin): a second line behind the CSRF token.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return false
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		return strings.TrimPrefix(strings.TrimPrefix(o, "http://"), "https://") == r.Host
	}
	return true
}

// checkCSRF verifies a form's token against the session.
func checkCSRF(u *user, r *http.Request) bool {
	if !sameOrigin(r) {
		return false
	}
	got := r.PostFormValue(csrfField)
	return hmac.Equal([]byte(got), []byte(u.csrf()))
}

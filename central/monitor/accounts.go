package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/einwurf/einwurf/central/store"
	"github.com/einwurf/einwurf/wire"
)

// Errors of account management on the dashboard.
var (
	ErrExists    = errors.New("monitor: that login exists already")
	ErrLastAdmin = errors.New("monitor: the last admin must stay an enabled admin")
	ErrSelf      = errors.New("monitor: admins cannot disable or demote themselves")
)

// disabledMark starts the hash of a disabled account (as "!" in
// /etc/shadow): login refuses it and its sessions stop working; enabling
// removes it, so the password is the one it was.
const disabledMark = "!disabled:"

// accountsAudit is the events' "kiosk" under which account changes are
// kept: not a kiosk id (wire.ValidID refuses it), so no kiosk's events mix
// with them.
const accountsAudit = "@accounts"

// accountView is one account as the accounts page shows it.
type accountView struct {
	Login, Role string
	Disabled    bool
	Created     time.Time
}

// accountChange is one entry of the accounts' audit log.
type accountChange struct {
	By     string    `json:"by"`
	Login  string    `json:"login"`
	Action string    `json:"action"` // created, role, disabled, enabled
	Role   string    `json:"role,omitempty"`
	Time   time.Time `json:"time"`
}

func disabled(a store.Account) bool { return strings.HasPrefix(a.Hash, disabledMark) }

// changeAccount applies one change an admin asks for (by), refusing what
// would lock everyone out, and records it in the accounts' audit log.
func (m *Monitor) changeAccount(ctx context.Context, by, login, action, role string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, err := m.cfg.Store.Account(ctx, login)
	if err != nil {
		return err
	}
	if login == by && (action == "disable" || (action == "role" && role != RoleAdmin)) {
		return ErrSelf
	}
	switch action {
	case "role":
		if !ValidRole(role) {
			return ErrRole
		}
		if a.Role == RoleAdmin && role != RoleAdmin {
			if err := m.notLastAdmin(ctx, login); err != nil {
				return err
			}
		}
		a.Role = role
	case "disable":
		if disabled(a) {
			return nil
		}
		if a.Role == RoleAdmin {
			if err := m.notLastAdmin(ctx, login); err != nil {
				return err
			}
		}
		a.Hash = disabledMark + a.Hash
	case "enable":
		if !disabled(a) {
			return nil
		}
		a.Hash = strings.TrimPrefix(a.Hash, disabledMark)
	default:
		return fmt.Errorf("monitor: unknown account action %q", action)
	}
	if err := m.cfg.Store.PutAccount(ctx, a); err != nil {
		return err
	}
	return m.auditAccount(ctx, accountChange{By: by, Login: login, Action: map[string]string{"role": "role",
		"disable": "disabled", "enable": "enabled"}[action], Role: role})
}

// notLastAdmin refuses when login is the only enabled admin.
func (m *Monitor) notLastAdmin(ctx context.Context, login string) error {
	all, err := m.cfg.Store.Accounts(ctx)
	if err != nil {
		return err
	}
	for _, o := range all {
		if o.Login != login && o.Role == RoleAdmin && !disabled(o) {
			return nil
		}
	}
	return ErrLastAdmin
}

// createAccount makes a new account (an existing login is refused, never
// replaced) and records it.
func (m *Monitor) createAccount(ctx context.Context, by, login, role, password string) error {
	if _, err := m.cfg.Store.Account(ctx, login); err == nil {
		return ErrExists
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	// The hash takes 64 MiB, as a login's check does: the same queue.
	select {
	case m.hashing <- struct{}{}:
		defer func() { <-m.hashing }()
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := AddAccount(ctx, m.cfg.Store, login, role, password, m.now()); err != nil {
		return err
	}
	return m.auditAccount(ctx, accountChange{By: by, Login: login, Action: "created", Role: role})
}

func (m *Monitor) auditAccount(ctx context.Context, c accountChange) error {
	c.Time = m.now()
	b, _ := json.Marshal(c)
	m.cfg.Log.Info("monitor: account changed", "by", c.By, "login", c.Login, "action", c.Action, "role", c.Role)
	return m.cfg.Store.AddEvent(ctx, accountsAudit, c.Time, "account."+c.Action, wire.SeverityInfo, b)
}

// accountsPage lists the accounts and their changes (admins only).
func (wb *web) accountsPage(w http.ResponseWriter, r *http.Request, u *user) {
	ctx := r.Context()
	p := wb.page(ctx, u, "Accounts", "accounts")
	all, err := wb.m.cfg.Store.Accounts(ctx)
	if err != nil {
		wb.fail(w, err)
		return
	}
	for _, a := range all {
		p.Accounts = append(p.Accounts, accountView{Login: a.Login, Role: a.Role, Disabled: disabled(a), Created: a.Created})
	}
	evs, err := wb.m.cfg.Store.Events(ctx, accountsAudit, 50)
	if err != nil {
		wb.fail(w, err)
		return
	}
	for _, e := range evs {
		var c accountChange
		if json.Unmarshal(e.Event, &c) == nil {
			p.AccountLog = append(p.AccountLog, c)
		}
	}
	p.Roles = []string{RoleViewer, RoleOperator, RoleAdmin}
	q := r.URL.Query()
	p.Flash = map[string]string{"created": "Account created.", "role": "Role changed.", "disable": "Account disabled; its sessions end.",
		"enable": "Account enabled."}[q.Get("done")]
	p.Error = q.Get("error")
	if p.Error != "" && !printable(p.Error) {
		p.Error = ""
	}
	wb.render(w, "accounts", p)
}

// accountError is the text shown for a refused change (no detail of the
// store).
func accountError(err error) string {
	for _, e := range []error{ErrExists, ErrLastAdmin, ErrSelf, ErrLogin, ErrRole, ErrWeak} {
		if errors.Is(err, e) {
			return strings.TrimPrefix(e.Error(), "monitor: ")
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		return "no such account"
	}
	return ""
}

// accountPost handles the accounts page's forms.
func (wb *web) accountPost(action string) handler {
	return func(w http.ResponseWriter, r *http.Request, u *user) {
		ctx := r.Context()
		var err error
		if action == "create" {
			err = wb.m.createAccount(ctx, u.Login, strings.TrimSpace(r.PostFormValue("login")), r.PostFormValue("role"), r.PostFormValue("password"))
		} else {
			err = wb.m.changeAccount(ctx, u.Login, r.PathValue("login"), action, r.PostFormValue("role"))
		}
		if err != nil {
			msg := accountError(err)
			if msg == "" {
				wb.fail(w, err)
				return
			}
			http.Redirect(w, r, "/accounts?error="+url.QueryEscape(msg), http.StatusSeeOther)
			return
		}
		done := action
		if action == "create" {
			done = "created"
		}
		http.Redirect(w, r, "/accounts?done="+done, http.StatusSeeOther)
	}
}

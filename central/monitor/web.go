package monitor

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/einwurf/einwurf/central/store"
	"github.com/einwurf/einwurf/wire"
)

//go:embed assets
var assets embed.FS

// page is what every template gets.
type page struct {
	Title, Nav string
	User       *user
	CSRF       string
	CanOperate bool
	OpenAlarms int
	Live       string // change kinds the page follows
	Flash      string
	Error      string

	// fleet
	Sites, Columns any
	Site, Sort     string
	Desc           bool
	// Shown are the fleet table's columns in view (keys, in order);
	// Choice is every column with whether it is shown, for the chooser;
	// Picked is the chooser's query ("col=…&col=…", empty for the
	// default).
	Shown         []string
	Choice        []columnChoice
	Picked        []string
	Rows          []row
	Online, Total int
	Offline       int

	Alarms   []store.Alarm
	Kiosk    *row
	Plots    []template.HTML
	Span     string
	Events   []eventView
	Commands []store.CommandRecord
	Kinds    []string
	Reasons  []string

	Code   string
	Result *lookupView
	// CanAdmin shows what only admins may change.
	CanAdmin bool

	// accounts
	Accounts   []accountView
	AccountLog []accountChange
	Roles      []string
}

// row is one kiosk as the dashboard shows it.
type row struct {
	ID, Site, Name, Version, Slot, Rollout string
	Online                                 bool
	LastSeen, Oldest, LastDelivery         time.Time
	Waiting                                int
	Scanner, Printer, Reader               string
	Disk, Temp, Consumables, OutOfService  string
	// ConsumableList are the consumables and wear parts by name (ok,
	// low, empty, replace); Counters the kiosk's persistent counters
	// (pages, sheets, jams, double feeds, ...), both from telemetry.
	ConsumableList []nameValue
	Counters       []nameValue
	// Faults is the jams and double feeds counted, for the fleet table.
	Faults   string
	diskFree int64
	temp     float64
	faults   int64
}

// nameValue is one named value of a kiosk's telemetry.
type nameValue struct{ Name, Value string }

// columnChoice is one column of the fleet table in the column chooser.
type columnChoice struct {
	Key, Label string
	Shown      bool
}

func toRow(k store.KioskState) row {
	r := row{ID: k.KioskID, Site: k.Site, Name: cmp.Or(k.Name, k.KioskID), Version: k.Version, Slot: k.Slot,
		Online: k.Online, LastSeen: k.LastSeen}
	if k.Rollout != "" {
		r.Rollout = k.Rollout
		if k.RolloutDetail != "" {
			r.Rollout += " (" + k.RolloutDetail + ")"
		}
	}
	var t wire.Telemetry
	if json.Unmarshal(k.Telemetry, &t) == nil {
		r.Waiting, r.Oldest, r.LastDelivery = t.SpoolEntries, t.Oldest, t.LastDelivery
		r.Scanner, r.Printer, r.Reader, r.OutOfService = t.Scanner, t.Printer, t.Reader, t.OutOfService
		r.diskFree = t.DiskFree
		r.Disk = "–"
		if t.DiskState != "" {
			r.Disk = fmt.Sprintf("%s, %s free", t.DiskState, bytesText(t.DiskFree))
		}
		if t.TempMilliC != 0 {
			r.temp = float64(t.TempMilliC) / 1000
			r.Temp = fmt.Sprintf("%.1f °C", r.temp)
		}
		var cs []string
		for _, name := range slices.Sorted(maps.Keys(t.Consumables)) {
			cs = append(cs, name+": "+t.Consumables[name])
			r.ConsumableList = append(r.ConsumableList, nameValue{name, t.Consumables[name]})
		}
		r.Consumables = strings.Join(cs, ", ")
		for _, name := range slices.Sorted(maps.Keys(t.Counters)) {
			r.Counters = append(r.Counters, nameValue{name, strconv.FormatInt(t.Counters[name], 10)})
		}
		if t.Counters != nil {
			jams, doubles := t.Counters["jams"], t.Counters["double-feeds"]
			r.faults = jams + doubles
			r.Faults = fmt.Sprintf("%d jams, %d double feeds", jams, doubles)
		}
	} else {
		r.Disk = "–"
	}
	return r
}

// deviceLights are the device states (scanner, printer, reader, as the
// kiosks report them) by traffic light: green works, yellow needs
// attention soon, red does not work. A state not listed is yellow: the
// kiosk knows something this dashboard does not.
var deviceLights = map[string]string{
	"ok":        "green",
	"paper-low": "yellow", "busy": "yellow",
	"absent": "red", "offline": "red", "fault": "red", "unplugged": "red", "no-answer": "red",
	"jam": "red", "cover-open": "red", "double-feed": "red", "paper-out": "red",
}

// devState is one device's state with its traffic light: a dot and the
// state's code (the words say it without the colour); "–" when the kiosk
// has not reported it.
func devState(s string) template.HTML {
	if s == "" {
		return "–"
	}
	light := cmp.Or(deviceLights[s], "yellow")
	return template.HTML(`<span class="dev dev-` + light + `">` + template.HTMLEscapeString(s) + `</span>`)
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// columns of the fleet table: key for ?sort= and ?col=, label, whether
// it is shown by default, and the order. The kiosk's name is always shown,
// first (it stays in view when the table scrolls sideways); the default
// set fits a 1280 px wide window, the column chooser adds the rest.
var columns = []struct {
	Key, Label string
	Default    bool
	less       func(a, b row) int
}{
	{"name", "Kiosk", true, func(a, b row) int { return cmp.Compare(a.Name, b.Name) }},
	{"site", "Site", true, func(a, b row) int { return cmp.Compare(a.Site, b.Site) }},
	{"status", "Status", true, func(a, b row) int { return cmp.Compare(b2i(a.Online), b2i(b.Online)) }},
	{"seen", "Last seen", true, func(a, b row) int { return a.LastSeen.Compare(b.LastSeen) }},
	{"version", "Version", true, func(a, b row) int { return cmp.Compare(a.Version, b.Version) }},
	{"slot", "Slot, rollout", false, func(a, b row) int { return cmp.Compare(a.Slot+a.Rollout, b.Slot+b.Rollout) }},
	{"waiting", "Waiting", true, func(a, b row) int { return cmp.Compare(a.Waiting, b.Waiting) }},
	{"oldest", "Oldest waiting", false, func(a, b row) int { return a.Oldest.Compare(b.Oldest) }},
	{"delivery", "Last delivery", true, func(a, b row) int { return a.LastDelivery.Compare(b.LastDelivery) }},
	{"devices", "Scanner / printer / reader", true, func(a, b row) int {
		return cmp.Compare(a.Scanner+a.Printer+a.Reader, b.Scanner+b.Printer+b.Reader)
	}},
	{"consumables", "Consumables", true, func(a, b row) int { return cmp.Compare(a.Consumables, b.Consumables) }},
	{"faults", "Jams, double feeds", false, func(a, b row) int { return cmp.Compare(a.faults, b.faults) }},
	{"disk", "Disk", false, func(a, b row) int { return cmp.Compare(a.diskFree, b.diskFree) }},
	{"temp", "Temp.", false, func(a, b row) int { return cmp.Compare(a.temp, b.temp) }},
}

// shownColumns reads the chooser's ?col= values: the columns asked for
// (known ones, in the table's order, the name always first), or the
// default set when none is asked for. picked is what to carry in links
// (nil for the default).
func shownColumns(q url.Values) (shown, picked []string) {
	asked := map[string]bool{}
	for _, c := range q["col"] {
		asked[c] = true
	}
	for _, c := range columns {
		if asked[c.Key] && c.Key != "name" {
			picked = append(picked, c.Key)
		}
	}
	for _, c := range columns {
		if c.Key == "name" || (picked == nil && c.Default) || asked[c.Key] {
			shown = append(shown, c.Key)
		}
	}
	return shown, picked
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Handler returns the dashboard's HTTP handler.
func (m *Monitor) Handler() http.Handler {
	funcs := template.FuncMap{"ago": m.ago, "agoTag": m.agoTag, "when": when, "state": func(s string) string { return cmp.Or(s, "–") }, "devstate": devState,
		"cell": func(r row, key string) cell { return cell{r, key} }, "nowMS": func() int64 { return m.now().UnixMilli() }}
	tpl := template.Must(template.New("").Funcs(funcs).ParseFS(assets, "assets/*.html"))
	static, _ := fs.Sub(assets, "assets")
	w := &web{m: m, tpl: tpl}
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.Handle("GET /metrics", bearer(m.cfg.MetricsToken, m.met.handler()))
	mux.HandleFunc("GET /login", w.loginPage)
	mux.HandleFunc("POST /login", w.loginPost)
	mux.HandleFunc("POST /logout", w.need(RoleViewer, w.logout))
	mux.HandleFunc("GET /{$}", w.need(RoleViewer, w.fleet))
	mux.HandleFunc("GET /fleet/rows", w.need(RoleViewer, w.fleetPart("rows")))
	mux.HandleFunc("GET /fleet/summary", w.need(RoleViewer, w.fleetPart("summary")))
	mux.HandleFunc("GET /events", w.need(RoleViewer, w.events))
	mux.HandleFunc("GET /alarms", w.need(RoleViewer, w.alarms("alarms")))
	mux.HandleFunc("GET /alarms/table", w.need(RoleViewer, w.alarms("alarmtable")))
	mux.HandleFunc("POST /alarms/{id}/{action}", w.need(RoleOperator, w.alarmAction))
	mux.HandleFunc("GET /kiosk/{id}", w.need(RoleViewer, w.kiosk))
	mux.HandleFunc("POST /kiosk/{id}/name", w.need(RoleAdmin, w.rename))
	mux.HandleFunc("GET /kiosk/{id}/facts", w.need(RoleViewer, w.kioskPart("kioskfacts")))
	mux.HandleFunc("GET /kiosk/{id}/events", w.need(RoleViewer, w.kioskPart("kioskevents")))
	mux.HandleFunc("GET /kiosk/{id}/log", w.need(RoleViewer, w.kioskPart("auditlog")))
	mux.HandleFunc("GET /commands", w.need(RoleViewer, w.commands("commands")))
	mux.HandleFunc("GET /commands/log", w.need(RoleViewer, w.commands("auditlog")))
	mux.HandleFunc("POST /commands", w.need(RoleOperator, w.send))
	mux.HandleFunc("GET /accounts", w.need(RoleAdmin, w.accountsPage))
	mux.HandleFunc("POST /accounts", w.need(RoleAdmin, w.accountPost("create")))
	mux.HandleFunc("POST /accounts/{login}/role", w.need(RoleAdmin, w.accountPost("role")))
	mux.HandleFunc("POST /accounts/{login}/disable", w.need(RoleAdmin, w.accountPost("disable")))
	mux.HandleFunc("POST /accounts/{login}/enable", w.need(RoleAdmin, w.accountPost("enable")))
	mux.HandleFunc("GET /lookup", w.need(RoleViewer, w.lookupPage))
	mux.HandleFunc("POST /lookup", w.need(RoleViewer, w.lookupPost))
	return securityHeaders(mux)
}

// securityHeaders keeps the pages out of frames and other sites' scripts.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'; form-action 'self'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

type web struct {
	m   *Monitor
	tpl *template.Template
}

type handler func(w http.ResponseWriter, r *http.Request, u *user)

// need wraps h: the request needs a session whose role includes role, and
// a POST a valid CSRF token.
func (wb *web) need(role string, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u := wb.m.user(r)
		if u == nil {
			if r.Method == http.MethodGet && r.Header.Get("Accept") != "text/event-stream" && !strings.Contains(r.URL.Path, "/rows") &&
				!strings.HasSuffix(r.URL.Path, "/table") && !strings.HasSuffix(r.URL.Path, "/log") && !strings.HasSuffix(r.URL.Path, "/summary") &&
				!strings.HasSuffix(r.URL.Path, "/facts") && !strings.HasSuffix(r.URL.Path, "/events") {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, "log in first", http.StatusUnauthorized)
			return
		}
		if !u.can(role) {
			http.Error(w, "your role may not do this", http.StatusForbidden)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if !checkCSRF(u, r) {
				http.Error(w, "the form is out of date; reload the page", http.StatusForbidden)
				return
			}
		}
		h(w, r, u)
	}
}

func (wb *web) page(ctx context.Context, u *user, title, nav string) *page {
	p := &page{Title: title, Nav: nav, User: u}
	if u != nil {
		p.CSRF, p.CanOperate, p.CanAdmin = u.csrf(), u.can(RoleOperator), u.can(RoleAdmin)
		if as, err := wb.m.cfg.Store.Alarms(ctx, true); err == nil {
			p.OpenAlarms = len(as)
		}
	}
	p.Kinds, p.Reasons = Kinds(), ServiceReasons()
	return p
}

func (wb *web) render(w http.ResponseWriter, name string, p any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := wb.tpl.ExecuteTemplate(w, name, p); err != nil {
		wb.m.cfg.Log.Warn("monitor: render", "template", name, "err", err)
	}
}

func (wb *web) fail(w http.ResponseWriter, err error) {
	wb.m.cfg.Log.Warn("monitor: request failed", "err", err)
	http.Error(w, "the central's database did not answer; try again", http.StatusServiceUnavailable)
}

func (wb *web) loginPage(w http.ResponseWriter, r *http.Request) {
	wb.render(w, "login", wb.page(r.Context(), nil, "Log in", ""))
}

func (wb *web) loginPost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if !sameOrigin(r) {
		http.Error(w, "cross-site login refused", http.StatusForbidden)
		return
	}
	c, err := wb.m.login(r.Context(), r.PostFormValue("login"), r.PostFormValue("password"))
	if err != nil {
		p := wb.page(r.Context(), nil, "Log in", "")
		p.Error = "Wrong login or password."
		if !errors.Is(err, ErrPassword) {
			p.Error = "The central's database did not answer; try again."
		}
		w.WriteHeader(http.StatusUnauthorized)
		wb.render(w, "login", p)
		return
	}
	http.SetCookie(w, c)
	next := r.URL.Query().Get("next")
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		next = "/"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (wb *web) logout(w http.ResponseWriter, r *http.Request, u *user) {
	wb.m.cfg.Store.DeleteSession(r.Context(), tokenHash(u.token))
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: wb.m.cfg.SecureCookies, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// fleetPage fills the fleet table's part of p from the request's site and
// sort parameters.
func (wb *web) fleetPage(r *http.Request, p *page) error {
	all, err := wb.m.cfg.Store.Kiosks(r.Context(), "")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	p.Site, p.Sort, p.Desc = q.Get("site"), q.Get("sort"), q.Get("desc") == "1"
	p.Shown, p.Picked = shownColumns(q)
	sites := map[string]bool{}
	for _, k := range all {
		if k.Site != "" {
			sites[k.Site] = true
		}
		if p.Site == "" || k.Site == p.Site {
			p.Rows = append(p.Rows, toRow(k))
		}
	}
	p.Sites = slices.Sorted(func(yield func(string) bool) {
		for s := range sites {
			if !yield(s) {
				return
			}
		}
	})
	for _, c := range columns {
		if c.Key == p.Sort {
			sort.SliceStable(p.Rows, func(i, j int) bool {
				if p.Desc {
					return c.less(p.Rows[j], p.Rows[i]) < 0
				}
				return c.less(p.Rows[i], p.Rows[j]) < 0
			})
		}
	}
	type col struct{ Key, Label, Href string }
	var cols []col
	for _, c := range columns {
		shown := slices.Contains(p.Shown, c.Key)
		p.Choice = append(p.Choice, columnChoice{c.Key, c.Label, shown})
		if !shown {
			continue
		}
		v := url.Values{"sort": {c.Key}}
		if p.Site != "" {
			v.Set("site", p.Site)
		}
		if c.Key == p.Sort && !p.Desc {
			v.Set("desc", "1")
		}
		if p.Picked != nil {
			v["col"] = p.Picked
		}
		cols = append(cols, col{c.Key, c.Label, "/?" + v.Encode()})
	}
	p.Columns = cols
	for _, rw := range p.Rows {
		p.Total++
		if rw.Online {
			p.Online++
		} else {
			p.Offline++
		}
	}
	return nil
}

func (wb *web) fleet(w http.ResponseWriter, r *http.Request, u *user) {
	p := wb.page(r.Context(), u, "Fleet", "fleet")
	p.Live = "fleet"
	if err := wb.fleetPage(r, p); err != nil {
		wb.fail(w, err)
		return
	}
	wb.render(w, "fleet", p)
}

func (wb *web) fleetPart(name string) handler {
	return func(w http.ResponseWriter, r *http.Request, u *user) {
		p := wb.page(r.Context(), u, "", "")
		if err := wb.fleetPage(r, p); err != nil {
			wb.fail(w, err)
			return
		}
		wb.render(w, name, p)
	}
}

// events streams change notices (server-sent events) until the client
// goes or its session ends.
func (wb *web) events(w http.ResponseWriter, r *http.Request, u *user) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	c, cancel := wb.m.hub.subscribe()
	defer cancel()
	fmt.Fprint(w, "retry: 2000\n\n")
	fl.Flush()
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	// Coalesce bursts: at most one notice per kind every 250 ms.
	pending := map[string]bool{}
	var flush <-chan time.Time
	for {
		select {
		case <-r.Context().Done():
			return
		case k := <-c:
			pending[k] = true
			if flush == nil {
				flush = time.After(250 * time.Millisecond)
			}
		case <-flush:
			flush = nil
			for k := range pending {
				fmt.Fprintf(w, "event: %s\ndata: %d\n\n", k, wb.m.now().Unix())
				delete(pending, k)
			}
			fl.Flush()
		case <-keep.C:
			if _, err := wb.m.cfg.Store.Session(r.Context(), tokenHash(u.token), wb.m.now()); err != nil {
				return
			}
			fmt.Fprint(w, ": keep-alive\n\n")
			fl.Flush()
		}
	}
}

func (wb *web) alarms(name string) handler {
	return func(w http.ResponseWriter, r *http.Request, u *user) {
		p := wb.page(r.Context(), u, "Alarms", "alarms")
		p.Live = "alarms"
		var err error
		if p.Alarms, err = wb.m.cfg.Store.Alarms(r.Context(), false); err != nil {
			wb.fail(w, err)
			return
		}
		p.Flash = flashText(r.URL.Query().Get("done"))
		wb.render(w, name, p)
	}
}

func flashText(s string) string {
	switch s {
	case "ack":
		return "Alarm acknowledged."
	case "clear":
		return "Alarm cleared."
	case "renamed":
		return "Site and name saved."
	case "sent":
		return "Command sent; the kiosks' answers appear in the log."
	}
	return ""
}

func (wb *web) alarmAction(w http.ResponseWriter, r *http.Request, u *user) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.Error(w, "no such alarm", http.StatusNotFound)
		return
	}
	switch r.PathValue("action") {
	case "ack":
		err = wb.m.cfg.Store.AckAlarm(r.Context(), id, u.Login, wb.m.now())
	case "clear":
		err = wb.m.cfg.Store.ClearAlarm(r.Context(), id, wb.m.now())
	default:
		http.Error(w, "no such action", http.StatusNotFound)
		return
	}
	if errors.Is(err, store.ErrNotFound) {
		http.Error(w, "no such alarm", http.StatusNotFound)
		return
	}
	if err != nil {
		wb.fail(w, err)
		return
	}
	wb.m.cfg.Log.Info("monitor: alarm "+r.PathValue("action"), "id", id, "by", u.Login)
	wb.m.hub.notify("alarms")
	http.Redirect(w, r, "/alarms?done="+r.PathValue("action"), http.StatusSeeOther)
}

// eventView is one row of a kiosk's history.
type eventView struct {
	Time           time.Time
	Severity, Code string
	Detail         string
	Bundle         bool
}

// plotSpan is how far back a kiosk's plots reach.
const plotSpan = 7 * 24 * time.Hour

// kiosk is a kiosk's page; it follows the kiosk live: its facts with the
// fleet, its events and its commands as they change (kioskPart).
func (wb *web) kiosk(w http.ResponseWriter, r *http.Request, u *user) {
	if p := wb.kioskOr(w, r, u); p != nil {
		p.Live = "fleet events commands"
		wb.render(w, "kiosk", p)
	}
}

// kioskPart renders one live part of a kiosk's page.
func (wb *web) kioskPart(name string) handler {
	return func(w http.ResponseWriter, r *http.Request, u *user) {
		if p := wb.kioskOr(w, r, u); p != nil {
			wb.render(w, name, p)
		}
	}
}

// kioskOr is kioskPage, or nil after answering with the error.
func (wb *web) kioskOr(w http.ResponseWriter, r *http.Request, u *user) *page {
	p, err := wb.kioskPage(r, u)
	switch {
	case errors.Is(err, store.ErrNotFound):
		http.Error(w, "no such kiosk", http.StatusNotFound)
	case err != nil:
		wb.fail(w, err)
	}
	return p
}

func (wb *web) kioskPage(r *http.Request, u *user) (*page, error) {
	ctx := r.Context()
	id := r.PathValue("id")
	if !wire.ValidID(id) {
		return nil, store.ErrNotFound
	}
	k, err := wb.m.cfg.Store.Kiosk(ctx, id)
	if err != nil {
		return nil, err
	}
	rw := toRow(k)
	p := wb.page(ctx, u, "Kiosk "+rw.Name, "fleet")
	p.Kiosk, p.Span = &rw, "7 days"
	p.Flash = flashText(r.URL.Query().Get("done"))
	evs, err := wb.m.cfg.Store.Events(ctx, id, 100)
	if err != nil {
		return nil, err
	}
	for _, e := range evs {
		v := eventView{Time: e.Time, Severity: e.Severity, Code: e.Code}
		if e.Code == "support-bundle" {
			v.Bundle, v.Detail = true, indent(e.Event)
		} else {
			var we wire.Event
			if json.Unmarshal(e.Event, &we) == nil {
				v.Detail = we.Detail
			}
		}
		p.Events = append(p.Events, v)
	}
	if p.Commands, err = wb.m.cfg.Store.Commands(ctx, id, 50); err != nil {
		return nil, err
	}
	since := wb.m.now().Add(-plotSpan)
	for _, pl := range kioskPlots() {
		ss, err := wb.m.cfg.Store.Samples(ctx, id, pl.metric, since)
		if err != nil {
			return nil, err
		}
		p.Plots = append(p.Plots, pl.draw(ss, since, wb.m.now()))
	}
	return p, nil
}

// rename sets a kiosk's site and display name (admin). A birth that names
// a site later replaces the site.
func (wb *web) rename(w http.ResponseWriter, r *http.Request, u *user) {
	id := r.PathValue("id")
	site, name := strings.TrimSpace(r.PostFormValue("site")), strings.TrimSpace(r.PostFormValue("name"))
	if len(site) > 64 || len(name) > 64 || !printable(site) || !printable(name) {
		http.Error(w, "site and name: up to 64 printable characters", http.StatusBadRequest)
		return
	}
	wb.m.mu.Lock()
	k, err := wb.m.cfg.Store.Kiosk(r.Context(), id)
	if err == nil {
		k.Site, k.Name = site, cmp.Or(name, id)
		err = wb.m.cfg.Store.PutKiosk(r.Context(), k)
	}
	wb.m.mu.Unlock()
	if errors.Is(err, store.ErrNotFound) {
		http.Error(w, "no such kiosk", http.StatusNotFound)
		return
	}
	if err != nil {
		wb.fail(w, err)
		return
	}
	wb.m.cfg.Log.Info("monitor: kiosk renamed", "kiosk", id, "by", u.Login)
	wb.m.hub.notify("fleet")
	http.Redirect(w, r, "/kiosk/"+url.PathEscape(id)+"?done=renamed", http.StatusSeeOther)
}

func printable(s string) bool {
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

func indent(b []byte) string {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return ""
	}
	out, _ := json.MarshalIndent(v, "", "  ")
	return string(out)
}

func (wb *web) commands(name string) handler {
	return func(w http.ResponseWriter, r *http.Request, u *user) {
		p := wb.page(r.Context(), u, "Commands", "commands")
		p.Live = "commands"
		var err error
		if p.Commands, err = wb.m.cfg.Store.Commands(r.Context(), "", 200); err != nil {
			wb.fail(w, err)
			return
		}
		ks, err := wb.m.cfg.Store.Kiosks(r.Context(), "")
		if err != nil {
			wb.fail(w, err)
			return
		}
		for _, k := range ks {
			p.Rows = append(p.Rows, toRow(k))
		}
		p.Flash = flashText(r.URL.Query().Get("done"))
		wb.render(w, name, p)
	}
}

func (wb *web) send(w http.ResponseWriter, r *http.Request, u *user) {
	kind := r.PostFormValue("kind")
	var args map[string]string
	if kind == wire.CmdOutOfService {
		args = map[string]string{"reason": r.PostFormValue("reason")}
	}
	kiosks := r.PostForm["kiosk"]
	_, err := wb.m.Send(r.Context(), u.Login, kiosks, kind, args)
	switch {
	case errors.Is(err, ErrKind), errors.Is(err, ErrArgs), errors.Is(err, ErrNoKiosks), errors.Is(err, ErrUnknown):
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	case err != nil:
		wb.fail(w, err)
		return
	}
	back := "/commands?done=sent"
	if len(kiosks) == 1 && r.PostFormValue("back") == "kiosk" {
		back = "/kiosk/" + url.PathEscape(kiosks[0]) + "?done=sent"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// ago writes a time as a readable distance from now.
func (m *Monitor) ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := m.now().Sub(t)
	switch {
	case d < 0:
		return when(t)
	case d < 90*time.Second:
		return fmt.Sprintf("%d s ago", int(d.Seconds()))
	case d < 90*time.Minute:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return when(t)
}

// agoTag is ago as a <time> element the page's script keeps current
// (app.js computes the same text from its datetime).
func (m *Monitor) agoTag(t time.Time) template.HTML {
	if t.IsZero() {
		return template.HTML("never")
	}
	return template.HTML(`<time datetime="` + t.UTC().Format(time.RFC3339) + `" data-ago>` +
		template.HTMLEscapeString(m.ago(t)) + `</time>`)
}

// cell is one cell of the fleet table: the row and the column's key.
type cell struct {
	R   row
	Key string
}

// when writes a time in UTC to the second.
func when(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
}

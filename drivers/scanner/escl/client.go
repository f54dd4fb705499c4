// Package escl is an eSCL (AirScan) client over a plain http.Client. Over the
// network it talks to a scanner's HTTP server; with an ippusb.Transport it
// talks to a USB scanner through IPP-over-USB, unchanged.
//
// A Client implements scanner.Scanner. Known device bugs are handled
// through a quirks table (KnownQuirks) chosen from what the device says in
// its capabilities.
package escl

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/einwurf/einwurf/drivers/scanner"
)

// A4 in 1/300 inch, the region the kiosk asks for: German job-centre mail
// is A4, and asking for the device maximum would give long blank tails on
// devices with legal-size feeders.
const (
	a4Width  = 2480
	a4Height = 3508
)

// Option configures a Client.
type Option func(*Client)

// WithLogger sets the logger (default slog.Default()). The client logs only
// protocol events, never page content.
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.log = l } }

// WithQuirkRules replaces the table of device bugs (default KnownQuirks()).
func WithQuirkRules(r []QuirkRule) Option { return func(c *Client) { c.rules = r } }

// WithUSBID names the USB vendor and product id ("vvvv:pppp") of a device
// reached over IPP-over-USB, so quirk rules can match it.
func WithUSBID(id string) Option { return func(c *Client) { c.usbID = id } }

// WithQuirks forces the given quirks, whatever the device says.
func WithQuirks(q Quirks) Option {
	return func(c *Client) { c.forced = &q }
}

// WithRetry sets how often a 503 answer is retried per request and the
// first pause; the pause doubles up to maxPause.
func WithRetry(attempts int, pause, maxPause time.Duration) Option {
	return func(c *Client) {
		c.retries, c.pause, c.maxPause = attempts, pause, maxPause
	}
}

// Timeouts bound how long the client waits for a device that has stopped
// answering. A limit that passes is scanner.ErrStalled; the zero value of a
// field takes its default.
type Timeouts struct {
	// Stall is the longest pause between two bytes of an answer's body,
	// mid-page above all (default 20 s).
	Stall time.Duration
	// Request bounds the wait for the answer (status line and headers) to
	// a capabilities, status or ScanJobs request (default 30 s).
	Request time.Duration
	// Page bounds the wait for the answer to NextDocument, which a device
	// gives only once it has fed and begun to scan the sheet (default 90 s).
	Page time.Duration
	// Cancel bounds the DELETE that cancels a job on Close (default 5 s).
	Cancel time.Duration
}

// DefaultTimeouts are the limits a Client uses unless told otherwise.
var DefaultTimeouts = Timeouts{Stall: 20 * time.Second, Request: 30 * time.Second, Page: 90 * time.Second, Cancel: 5 * time.Second}

// WithTimeouts sets the stall and request limits; zero fields keep their
// defaults.
func WithTimeouts(t Timeouts) Option {
	return func(c *Client) {
		d := DefaultTimeouts
		for _, f := range []struct{ dst, src *time.Duration }{
			{&d.Stall, &t.Stall}, {&d.Request, &t.Request}, {&d.Page, &t.Page}, {&d.Cancel, &t.Cancel},
		} {
			if *f.src > 0 {
				*f.dst = *f.src
			}
		}
		c.timeouts = d
	}
}

// Client is an eSCL client for one scanner. It is safe for concurrent use,
// though a scanner runs one job at a time.
type Client struct {
	hc       *http.Client
	base     *url.URL
	baseErr  error
	log      *slog.Logger
	rules    []QuirkRule
	forced   *Quirks
	usbID    string
	retries  int
	pause    time.Duration
	maxPause time.Duration
	timeouts Timeouts

	mu     sync.Mutex
	caps   *ScannerCapabilities
	quirks Quirks
}

var _ scanner.Scanner = (*Client)(nil)

// New returns a client for the eSCL root at base, e.g.
// "http://192.0.2.7/eSCL" or, over USB, "http://localhost/eSCL". A bad base
// URL is reported by every call.
func New(hc *http.Client, base string, opts ...Option) *Client {
	c := &Client{
		hc:       hc,
		log:      slog.Default(),
		rules:    KnownQuirks(),
		retries:  10,
		pause:    100 * time.Millisecond,
		maxPause: time.Second,
		timeouts: DefaultTimeouts,
	}
	if c.hc == nil {
		c.hc = http.DefaultClient
	}
	u, err := url.Parse(base)
	switch {
	case err != nil:
		c.baseErr = fmt.Errorf("escl: base URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		c.baseErr = fmt.Errorf("escl: base URL %q: want http(s)://host/path", base)
	default:
		// Relative references resolve below the root only if it ends in a
		// slash; some devices also need the slash themselves.
		if !strings.HasSuffix(u.Path, "/") {
			u.Path += "/"
		}
		c.base = u
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// transportError gives a failed request or body read its typed meaning:
// cancellation stays what it is, a typed error from the transport
// (ErrUnplugged from ippusb, ErrStalled from the watchdog) is kept, and
// anything else means the device is not reachable. The transport's own
// error is kept as text only: a connection dropped without an answer
// wraps io.EOF, and that must never read as the end of a job.
func transportError(op string, err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("escl: %s: %w (%v)", op, context.Canceled, err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("escl: %s: %w (%v)", op, context.DeadlineExceeded, err)
	}
	if k := scanner.Kind(err); k != nil {
		return fmt.Errorf("escl: %s: %w (%v)", op, k, err)
	}
	return fmt.Errorf("escl: %s: %w (%v)", op, scanner.ErrOffline, err)
}

func (c *Client) resolve(ref string) (*url.URL, error) {
	if c.baseErr != nil {
		return nil, c.baseErr
	}
	r, err := url.Parse(ref)
	if err != nil {
		return nil, fmt.Errorf("%w: bad URL %q: %v", scanner.ErrProtocol, ref, err)
	}
	return c.base.ResolveReference(r), nil
}

// do sends one request; host, when set, overrides the Host header. An
// answer that does not begin within wait, or whose body then pauses longer
// than the stall time, ends with scanner.ErrStalled.
func (c *Client) do(ctx context.Context, method string, u *url.URL, body []byte, host string, wait time.Duration) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	rctx, cancel := context.WithCancel(ctx)
	w := newWatch(wait, cancel)
	req, err := http.NewRequestWithContext(rctx, method, u.String(), rd)
	if err != nil {
		w.stop()
		cancel()
		return nil, fmt.Errorf("escl: %s: %w", method, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "text/xml")
	}
	c.mu.Lock()
	q := c.quirks
	c.mu.Unlock()
	if q.PortInHost && u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		req.Host = net.JoinHostPort(u.Hostname(), port)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		w.stop()
		cancel()
		if w.fired() && ctx.Err() == nil {
			return nil, fmt.Errorf("escl: %s %s: %w: no answer within %v", method, u.Path, scanner.ErrStalled, wait)
		}
		return nil, transportError(method+" "+u.Path, err)
	}
	w.stop()
	w.d.Store(int64(c.timeouts.Stall))
	resp.Body = &watchedBody{rc: resp.Body, w: w, cancel: cancel, ctx: ctx}
	return resp, nil
}

// discard closes a response body the caller has no use for.
func discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// getXML fetches an XML document with bounded 503 retries.
func (c *Client) getXML(ctx context.Context, name string) (*http.Response, error) {
	u, err := c.resolve(name)
	if err != nil {
		return nil, err
	}
	pause := c.pause
	for attempt := 0; ; attempt++ {
		resp, err := c.do(ctx, http.MethodGet, u, nil, "", c.timeouts.Request)
		if err != nil {
			return nil, err
		}
		switch {
		case resp.StatusCode == http.StatusOK:
			return resp, nil
		case resp.StatusCode == http.StatusServiceUnavailable && attempt < c.retries:
			discard(resp)
			if err := sleep(ctx, pause); err != nil {
				return nil, fmt.Errorf("escl: %s: %w", name, err)
			}
			pause = min(pause*2, c.maxPause)
		case resp.StatusCode == http.StatusServiceUnavailable:
			discard(resp)
			return nil, fmt.Errorf("escl: %s: %w: still 503 after %d retries", name, scanner.ErrBusy, c.retries)
		default:
			discard(resp)
			return nil, fmt.Errorf("escl: %s: %w: HTTP %d", name, scanner.ErrProtocol, resp.StatusCode)
		}
	}
}

// RawCapabilities returns the device's capabilities document as parsed and
// the quirks in effect for it. The document is fetched once and cached.
func (c *Client) RawCapabilities(ctx context.Context) (*ScannerCapabilities, Quirks, error) {
	c.mu.Lock()
	if c.caps != nil {
		defer c.mu.Unlock()
		return c.caps, c.quirks, nil
	}
	c.mu.Unlock()
	resp, err := c.getXML(ctx, "ScannerCapabilities")
	if err != nil {
		return nil, Quirks{}, err
	}
	defer resp.Body.Close()
	caps, err := ParseCapabilities(resp.Body)
	if err != nil {
		return nil, Quirks{}, fmt.Errorf("escl: capabilities: %w: %w", scanner.ErrProtocol, err)
	}
	q := QuirksOf(c.rules, Identity{Model: strings.TrimSpace(caps.MakeAndModel), Manufacturer: strings.TrimSpace(caps.Manufacturer),
		Server: resp.Header.Get("Server"), USB: c.usbID})
	if c.forced != nil {
		q = *c.forced
	}
	if q != (Quirks{}) {
		c.log.Info("escl: device quirks in effect", "model", caps.MakeAndModel, "quirks", fmt.Sprintf("%+v", q))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.caps, c.quirks = caps, q
	return caps, q, nil
}

// Capabilities implements scanner.Scanner.
func (c *Client) Capabilities(ctx context.Context) (scanner.Capabilities, error) {
	raw, q, err := c.RawCapabilities(ctx)
	if err != nil {
		return scanner.Capabilities{}, err
	}
	out := scanner.Capabilities{
		MakeAndModel: strings.TrimSpace(raw.MakeAndModel),
		Serial:       strings.TrimSpace(raw.SerialNumber),
		Duplex:       raw.AdfDuplex != nil || slices.Contains(raw.AdfOptions, "Duplex"),
	}
	if raw.Platen != nil {
		out.Sources = append(out.Sources, scanner.SourcePlaten)
	}
	if raw.AdfSimplex != nil || raw.AdfDuplex != nil {
		out.Sources = append(out.Sources, scanner.SourceFeeder)
	}
	for _, ic := range []*InputCaps{raw.Platen, raw.AdfSimplex, raw.AdfDuplex} {
		if ic == nil {
			continue
		}
		for _, r := range ic.Resolutions() {
			if (q.MaxResolution == 0 || r <= q.MaxResolution) && !slices.Contains(out.Resolutions, r) {
				out.Resolutions = append(out.Resolutions, r)
			}
		}
		for _, m := range ic.ColorModes() {
			if !slices.Contains(out.ColorModes, m) {
				out.ColorModes = append(out.ColorModes, m)
			}
		}
		for _, f := range ic.Formats() {
			if !slices.Contains(out.Formats, f) {
				out.Formats = append(out.Formats, f)
			}
		}
		out.MaxWidth = max(out.MaxWidth, ic.MaxWidth)
		out.MaxHeight = max(out.MaxHeight, ic.MaxHeight)
	}
	slices.Sort(out.Resolutions)
	return out, nil
}

// RawStatus fetches and parses ScannerStatus.
func (c *Client) RawStatus(ctx context.Context) (*ScannerStatus, error) {
	resp, err := c.getXML(ctx, "ScannerStatus")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	st, err := ParseStatus(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("escl: status: %w: %w", scanner.ErrProtocol, err)
	}
	return st, nil
}

// Status implements scanner.Scanner.
func (c *Client) Status(ctx context.Context) (scanner.Status, error) {
	st, err := c.RawStatus(ctx)
	if err != nil {
		return scanner.Status{}, err
	}
	out := scanner.Status{State: scanner.State(st.State), ADFState: st.AdfState, Err: c.adfError(st)}
	if out.Err == nil && (out.State == scanner.StateDown || out.State == scanner.StateStopped) {
		out.Err = scanner.ErrOffline
	}
	return out, nil
}

// adfError is AdfError with the device's quirks applied.
func (c *Client) adfError(st *ScannerStatus) error {
	c.mu.Lock()
	q := c.quirks
	c.mu.Unlock()
	if q.AdfProcessingIsEmpty && st.AdfState == "ScannerAdfProcessing" && scanner.State(st.State) == scanner.StateIdle {
		return scanner.ErrFeederEmpty
	}
	return AdfError(st.AdfState)
}

// explain asks the device why a request failed and returns the typed error
// its status stands for, or fallback. jobPath may be empty.
func (c *Client) explain(ctx context.Context, jobPath string, fallback error) error {
	st, err := c.RawStatus(ctx)
	if err != nil {
		return fallback
	}
	if jobPath != "" {
		if ji := st.Job(jobPath); ji != nil && (ji.JobState == "Aborted" || ji.JobState == "Canceled") {
			if e := jobReasonError(ji.JobStateReasons); e != nil {
				return e
			}
		}
	}
	if e := c.adfError(st); e != nil {
		return e
	}
	switch scanner.State(st.State) {
	case scanner.StateProcessing, scanner.StateTesting:
		return scanner.ErrBusy
	case scanner.StateDown, scanner.StateStopped:
		return scanner.ErrOffline
	}
	return fallback
}

// check fills in defaults and refuses settings the device cannot do.
func (c *Client) check(raw *ScannerCapabilities, q Quirks, s *scanner.Settings) (*InputCaps, error) {
	if s.Source == "" {
		s.Source = scanner.SourceFeeder
	}
	if s.Resolution == 0 {
		s.Resolution = 300
	}
	if s.ColorMode == "" {
		s.ColorMode = scanner.ColorRGB24
	}
	if s.Format == "" {
		s.Format = scanner.FormatJPEG
	}
	var ic *InputCaps
	switch s.Source {
	case scanner.SourcePlaten:
		ic = raw.Platen
		s.Duplex = false
	case scanner.SourceFeeder:
		ic = raw.AdfSimplex
		if s.Duplex {
			if raw.AdfDuplex == nil && !slices.Contains(raw.AdfOptions, "Duplex") {
				return nil, fmt.Errorf("escl: %w: no duplex", scanner.ErrUnsupported)
			}
			if raw.AdfDuplex != nil {
				ic = raw.AdfDuplex
			}
		}
		if ic == nil {
			ic = raw.AdfDuplex
		}
	}
	if ic == nil {
		return nil, fmt.Errorf("escl: %w: no source %q", scanner.ErrUnsupported, s.Source)
	}
	if !slices.Contains(ic.Resolutions(), s.Resolution) || q.MaxResolution > 0 && s.Resolution > q.MaxResolution {
		return nil, fmt.Errorf("escl: %w: resolution %d", scanner.ErrUnsupported, s.Resolution)
	}
	if !slices.Contains(ic.ColorModes(), s.ColorMode) {
		return nil, fmt.Errorf("escl: %w: colour mode %q", scanner.ErrUnsupported, s.ColorMode)
	}
	if !slices.Contains(ic.Formats(), s.Format) {
		return nil, fmt.Errorf("escl: %w: format %q", scanner.ErrUnsupported, s.Format)
	}
	return ic, nil
}

// Scan implements scanner.Scanner: it checks the settings against the
// capabilities, posts the job and returns it. Pages are fetched by Next.
func (c *Client) Scan(ctx context.Context, s scanner.Settings) (scanner.Job, error) {
	raw, q, err := c.RawCapabilities(ctx)
	if err != nil {
		return nil, err
	}
	ic, err := c.check(raw, q, &s)
	if err != nil {
		return nil, err
	}
	if q.PrecheckFeeder && s.Source == scanner.SourceFeeder {
		st, err := c.RawStatus(ctx)
		if err != nil {
			return nil, err
		}
		if e := c.adfError(st); e != nil {
			return nil, fmt.Errorf("escl: before scan: %w", e)
		}
	}
	w, h := a4Width, a4Height
	if ic.MaxWidth > 0 {
		w = min(w, ic.MaxWidth)
	}
	if ic.MaxHeight > 0 {
		h = min(h, ic.MaxHeight)
	}
	withExt := false
	for _, p := range ic.Profiles {
		withExt = withExt || len(p.FormatsExt) > 0
	}
	body, err := MarshalSettings(s, w, h, withExt)
	if err != nil {
		return nil, err
	}
	u, err := c.resolve("ScanJobs")
	if err != nil {
		return nil, err
	}
	host := ""
	if q.HostLocalhost {
		host = "localhost"
	}
	pause := c.pause
	for attempt := 0; ; attempt++ {
		resp, err := c.do(ctx, http.MethodPost, u, body, host, c.timeouts.Request)
		if err != nil {
			return nil, err
		}
		// Only the headers matter; a body that breaks off is no error.
		discard(resp)
		switch resp.StatusCode {
		case http.StatusCreated, http.StatusOK:
			return c.newJob(ctx, resp, s, q)
		case http.StatusServiceUnavailable:
			if attempt < c.retries {
				if err := sleep(ctx, pause); err != nil {
					return nil, fmt.Errorf("escl: ScanJobs: %w", err)
				}
				pause = min(pause*2, c.maxPause)
				continue
			}
			return nil, fmt.Errorf("escl: ScanJobs: %w", c.explain(ctx, "", scanner.ErrBusy))
		default:
			fb := fmt.Errorf("%w: ScanJobs answered HTTP %d", scanner.ErrProtocol, resp.StatusCode)
			return nil, fmt.Errorf("escl: ScanJobs: %w", c.explain(ctx, "", fb))
		}
	}
}

func (c *Client) newJob(ctx context.Context, resp *http.Response, s scanner.Settings, q Quirks) (*job, error) {
	loc := strings.TrimSpace(resp.Header.Get("Location"))
	if loc == "" {
		return nil, fmt.Errorf("escl: ScanJobs: %w: no Location", scanner.ErrProtocol)
	}
	ju, err := c.resolve(loc)
	if err != nil {
		return nil, err
	}
	if ju.Opaque != "" || !strings.HasPrefix(ju.Path, "/") {
		return nil, fmt.Errorf("escl: ScanJobs: %w: Location %q names no job path", scanner.ErrProtocol, loc)
	}
	ju.User, ju.Fragment, ju.RawFragment = nil, "", ""
	if ju.Scheme != c.base.Scheme || !strings.EqualFold(ju.Host, c.base.Host) {
		// Devices name themselves in Location as they see themselves
		// ("localhost", an internal address); the job lives where we
		// posted it.
		ju.Scheme, ju.Host = c.base.Scheme, c.base.Host
	}
	jobPath := strings.TrimSuffix(ju.Path, "/")
	next := *ju
	next.Path = jobPath + "/NextDocument"
	next.RawPath = ""
	jctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.log.Debug("escl: job started", "job", jobPath)
	return &job{c: c, s: s, q: q, url: ju, path: jobPath, next: &next, ctx: jctx, cancel: cancel}, nil
}

// job is a running eSCL scan job.
type job struct {
	c    *Client
	s    scanner.Settings
	q    Quirks
	url  *url.URL
	path string
	next *url.URL

	// ctx is cancelled by Close so that a Next in flight returns at once.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	pages    int
	lastLoad time.Duration
	open     *pageBody
	br       *bufio.Reader // reused by the job's pages, one at a time
	ended    bool          // the device finished or aborted the job itself
	closed   bool
}

// bind returns a context done when either ctx or the job's is.
func (j *job) bind(ctx context.Context) (context.Context, context.CancelFunc) {
	cctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(j.ctx, cancel)
	return cctx, func() { stop(); cancel() }
}

// Next implements scanner.Job. A page body still open from the previous
// call is closed first, since one-interface USB devices cannot answer the
// next request before the previous answer is consumed.
func (j *job) Next(ctx context.Context) (*scanner.Page, error) {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil, fmt.Errorf("escl: %w", scanner.ErrClosed)
	}
	if j.ended {
		j.mu.Unlock()
		return nil, io.EOF
	}
	prev, pages, last := j.open, j.pages, j.lastLoad
	j.open = nil
	j.mu.Unlock()
	if prev != nil {
		_ = prev.Close()
	}
	rctx, done := j.bind(ctx)
	if j.q.NextDocumentDelay > 0 && pages > 0 {
		if err := sleep(rctx, min(j.q.NextDocumentDelay, last/2)); err != nil {
			done()
			return nil, j.abort(ctx, err)
		}
	}
	retries := j.c.retries
	if j.q.Retries503 > 0 {
		retries = j.q.Retries503
	}
	pause := j.c.pause
	early, empty := 0, 0
	for attempt := 0; ; attempt++ {
		start := time.Now()
		resp, err := j.c.do(rctx, http.MethodGet, j.next, nil, "", j.c.timeouts.Page)
		if err != nil {
			done()
			if rctx.Err() != nil {
				return nil, j.abort(ctx, err)
			}
			return nil, err
		}
		switch resp.StatusCode {
		case http.StatusOK:
			p, err := j.page(resp, time.Since(start), done)
			if err == nil {
				return p, nil
			}
			if rctx.Err() != nil {
				done()
				return nil, j.abort(ctx, rctx.Err())
			}
			if errors.Is(err, errEmptyPage) && empty < maxEmpty {
				// An empty answer is no page: devices so report a jam or
				// an open cover, and tell what it was on the next request.
				empty++
				j.c.log.Info("escl: empty page answer, asking again")
				continue
			}
			if errors.Is(err, errEmptyPage) {
				err = fmt.Errorf("%w: %d empty answers", scanner.ErrStopped, empty+1)
			}
			if k := scanner.Kind(err); k == scanner.ErrProtocol || k == scanner.ErrStopped {
				err = j.c.explain(rctx, j.path, err)
			}
			done()
			return nil, fmt.Errorf("escl: NextDocument: %w", err)
		case http.StatusNotFound, http.StatusGone, http.StatusConflict:
			discard(resp)
			if (resp.StatusCode == http.StatusNotFound && j.q.RetryOn404 || resp.StatusCode == http.StatusGone && j.q.RetryOn410) && attempt < retries {
				// This device says "not yet" so; ask again as after a 503.
				if err := sleep(rctx, pause); err != nil {
					done()
					return nil, j.abort(ctx, err)
				}
				pause = min(pause*2, j.c.maxPause)
				continue
			}
			again, err := j.end(rctx, pages, resp.StatusCode, resp.StatusCode != http.StatusConflict && early < maxEarly404)
			if rctx.Err() != nil {
				// Cancelled while asking why: not an end, a cancellation.
				done()
				return nil, j.abort(ctx, rctx.Err())
			}
			if again {
				// The device is still feeding: it answered too soon.
				early++
				if err := sleep(rctx, j.c.maxPause); err != nil {
					done()
					return nil, j.abort(ctx, err)
				}
				continue
			}
			done()
			return nil, err
		case http.StatusServiceUnavailable:
			discard(resp)
			if attempt >= retries {
				done()
				return nil, fmt.Errorf("escl: NextDocument: %w: still 503 after %d retries", scanner.ErrBusy, retries)
			}
			j.c.log.Debug("escl: device busy, retrying", "attempt", attempt+1)
			if err := sleep(rctx, pause); err != nil {
				done()
				return nil, j.abort(ctx, err)
			}
			pause = min(pause*2, j.c.maxPause)
		default:
			discard(resp)
			fb := fmt.Errorf("%w: NextDocument answered HTTP %d", scanner.ErrProtocol, resp.StatusCode)
			err := j.c.explain(rctx, j.path, fb)
			done()
			j.mu.Lock()
			j.ended = true
			j.mu.Unlock()
			return nil, fmt.Errorf("escl: NextDocument: %w", err)
		}
	}
}

// maxEmpty bounds how many empty 200 answers a page may get before the
// job is taken as stopped.
const maxEmpty = 3

// abort cancels the job on the device after the caller's context ended or
// the job was closed, and returns why.
func (j *job) abort(ctx context.Context, cause error) error {
	_ = j.Close()
	if ctx.Err() != nil {
		return fmt.Errorf("escl: NextDocument: %w", ctx.Err())
	}
	if errors.Is(cause, context.Canceled) {
		return fmt.Errorf("escl: NextDocument: %w", scanner.ErrClosed)
	}
	return cause
}

// maxEarly404 bounds how often a 404 is taken for "not yet" while the
// device says the job is still processing with paper in the feeder.
const maxEarly404 = 3

// end decides what a 404, 410 or 409 (code) after pages pages means: the
// normal end, an error the device only shows in its status, or (again =
// true, only if mayRetry) a device that answered before it had fed the
// next sheet. After at least one page an empty feeder is the normal end on
// every path; an aborted job is always an error (ErrStopped when its
// reason names no fault of its own).
func (j *job) end(ctx context.Context, pages, code int, mayRetry bool) (again bool, err error) {
	st, serr := j.c.RawStatus(ctx)
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	var ji *JobInfo
	if serr == nil {
		ji = st.Job(j.path)
	}
	if serr == nil && mayRetry {
		if ji != nil && ji.JobState == "Processing" && st.AdfState == "ScannerAdfLoaded" {
			return true, nil
		}
	}
	j.mu.Lock()
	j.ended = true
	j.mu.Unlock()
	said := code != http.StatusConflict // 404 and 410 say "no more documents"
	if serr != nil {
		switch {
		case said && pages > 0:
			return false, io.EOF
		case said:
			return false, fmt.Errorf("escl: no pages: %w", scanner.ErrFeederEmpty)
		}
		return false, fmt.Errorf("escl: NextDocument answered HTTP %d, status: %w", code, serr)
	}
	var reason error
	if ji != nil {
		reason = jobReasonError(ji.JobStateReasons)
	}
	adf := j.c.adfError(st)
	empty := reason == scanner.ErrFeederEmpty || adf == scanner.ErrFeederEmpty
	switch {
	case reason != nil && reason != scanner.ErrFeederEmpty:
		return false, fmt.Errorf("escl: job aborted: %w", reason)
	case adf != nil && adf != scanner.ErrFeederEmpty:
		return false, fmt.Errorf("escl: job ended: %w", adf)
	case ji != nil && (ji.JobState == "Aborted" || ji.JobState == "Canceled") && !empty:
		return false, fmt.Errorf("escl: job %s (%s): %w", strings.ToLower(ji.JobState), strings.Join(ji.JobStateReasons, ", "), scanner.ErrStopped)
	case pages == 0:
		return false, fmt.Errorf("escl: no pages: %w", scanner.ErrFeederEmpty)
	case said || empty || ji != nil && ji.JobState == "Completed":
		return false, io.EOF
	}
	return false, fmt.Errorf("escl: NextDocument answered HTTP %d: %w", code, scanner.ErrStopped)
}

// errEmptyPage is a 200 answer without a body.
var errEmptyPage = errors.New("escl: empty page")

// page turns a 200 answer into a page, unless its body is empty or is no
// image the kiosk knows: those are never pages. The format is what the
// body's first bytes say; a Content-Type that disagrees is ignored.
func (j *job) page(resp *http.Response, took time.Duration, done func()) (*scanner.Page, error) {
	j.mu.Lock()
	br := j.br
	j.br = nil
	j.mu.Unlock()
	b := newPageBody(resp.Body, br, func() {})
	head, err := b.br.Peek(sniffLen)
	format := sniff(head)
	if format == "" {
		// Read what remains so the connection can serve the next request.
		_, _ = io.Copy(io.Discard, io.LimitReader(b.br, 64<<10))
		_ = b.Close()
		j.mu.Lock()
		j.br = b.br
		j.mu.Unlock()
		switch {
		case len(head) == 0 && (err == nil || err == io.EOF):
			return nil, errEmptyPage
		case err != nil && err != io.EOF:
			return nil, transportError("NextDocument", err)
		}
		ct := resp.Header.Get("Content-Type")
		if len(ct) > 64 {
			ct = ct[:64]
		}
		return nil, fmt.Errorf("%w: NextDocument answered %q with a body that is no image", scanner.ErrProtocol, ct)
	}
	b.done = done
	j.mu.Lock()
	defer j.mu.Unlock()
	idx := j.pages
	j.pages++
	j.lastLoad = took
	p := &scanner.Page{Format: format, Resolution: j.s.Resolution, Sheet: idx + 1, Side: scanner.Front}
	if j.s.Duplex {
		p.Sheet = idx/2 + 1
		p.Side = scanner.Side(idx % 2)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err == nil && mt != format {
		j.c.log.Debug("escl: page Content-Type disagrees with its body", "body", format)
	}
	j.br = b.br
	if w, h, ok := b.peekSize(p.Format); ok {
		p.Width, p.Height = w, h
	}
	p.Body = b
	j.open = b
	return p, nil
}

// Close implements scanner.Job: it closes an open page body and, if the
// device has not ended the job, deletes it there.
func (j *job) Close() error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil
	}
	j.closed = true
	open, ended := j.open, j.ended
	j.open = nil
	j.mu.Unlock()
	j.cancel()
	if open != nil {
		_ = open.Close()
	}
	if ended {
		return nil
	}
	// The caller's context may be gone; the delete must still reach the
	// device or it keeps the feeder busy.
	ctx, cancel := context.WithTimeout(context.Background(), j.c.timeouts.Cancel)
	defer cancel()
	resp, err := j.c.do(ctx, http.MethodDelete, j.url, nil, "", j.c.timeouts.Cancel)
	if err != nil {
		return fmt.Errorf("escl: cancel job: %w", err)
	}
	discard(resp)
	j.c.log.Debug("escl: job cancelled", "job", j.path, "status", resp.StatusCode)
	switch resp.StatusCode {
	case http.StatusOK, http.StatusNoContent, http.StatusNotFound, http.StatusGone:
		return nil
	}
	return fmt.Errorf("escl: cancel job: %w: HTTP %d", scanner.ErrProtocol, resp.StatusCode)
}

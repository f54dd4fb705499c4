// Package ippusb carries HTTP over the bulk endpoint pairs of an
// IPP-over-USB device (interfaces of class 7/1/4), so that the eSCL client
// runs over USB unchanged:
//
//	t, _ := ippusb.New(dev)
//	c := escl.New(&http.Client{Transport: t}, "http://localhost/eSCL")
//
// Each interface is one HTTP/1.1 connection that never closes: a request is
// written on bulk out, its response read from bulk in, one at a time per
// interface. Response bodies are always read to their end, even when the
// caller closes them early, so that the next response on that interface
// starts where it should.
package ippusb

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"github.com/einwurf/einwurf/drivers/scanner/escl"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/drivers/usb"
)

// Defaults.
const (
	// DefaultReadSize is the most one bulk read asks for: 16 KiB is a
	// multiple of every bulk packet size and small enough for a board with
	// little RAM, yet moves a 60 ppm duplex stream with few transfers.
	DefaultReadSize = 16 << 10
	// DefaultTransferTimeout bounds one bulk transfer. Reads that time out
	// are repeated; the short bound is what lets a cancelled request or an
	// unplugged device be noticed quickly.
	DefaultTransferTimeout = 500 * time.Millisecond
	// DefaultIdleTimeout is how long a response may stay silent (a scanner
	// preparing the next page at 600 dpi can take long).
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultDrainTimeout bounds reading the rest of a body closed early.
	DefaultDrainTimeout = 30 * time.Second
)

// Errors of this package.
var (
	// errPartial marks a request that was not completely written; its
	// exchange cannot be finished and the interface must be resynchronised.
	errPartial = errors.New("ippusb: request cut short")
	// ErrIdle means a response stayed silent longer than the idle time-out.
	ErrIdle = errors.New("ippusb: device silent too long")
	// ErrClosed means the transport was closed.
	ErrClosed = errors.New("ippusb: transport closed")
)

// Option configures a Transport.
type Option func(*Transport)

// WithReadSize sets the largest bulk read (rounded down to 512 bytes,
// at least 512).
func WithReadSize(n int) Option {
	return func(t *Transport) { t.readSize = max(512, n/512*512) }
}

// WithTransferTimeout sets the bound of one bulk transfer.
func WithTransferTimeout(d time.Duration) Option { return func(t *Transport) { t.xfer = d } }

// WithIdleTimeout sets how long a response may stay silent.
func WithIdleTimeout(d time.Duration) Option { return func(t *Transport) { t.idle = d } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(t *Transport) { t.log = l } }

// WithQuirkRules sets the device quirk rules (default escl.KnownQuirks());
// the USB-level ones (how many interfaces to use, a reset at open) apply
// to the device they match, by USB id and, once its capabilities are read,
// by make and model. A Scanner hands the rules on to its eSCL client.
func WithQuirkRules(r []escl.QuirkRule) Option { return func(t *Transport) { t.rules = r } }

// WithMaxInterfaces uses at most n of the device's IPP-over-USB
// interfaces (0 = all).
func WithMaxInterfaces(n int) Option { return func(t *Transport) { t.maxIf = max(0, n) } }

// Transport is an http.RoundTripper over an IPP-over-USB device.
type Transport struct {
	dev      usb.Device
	readSize int
	xfer     time.Duration
	idle     time.Duration
	drain    time.Duration
	log      *slog.Logger
	rules    []escl.QuirkRule
	maxIf    int

	free     chan *conn
	gone     chan struct{}
	goneOnce sync.Once
	closed   chan struct{}
	closeOne sync.Once
}

var _ http.RoundTripper = (*Transport)(nil)

// New returns a transport over every pipe of dev. The caller keeps owning
// dev and closes it after the transport.
func New(dev usb.Device, opts ...Option) (*Transport, error) {
	pipes := dev.Pipes()
	if len(pipes) == 0 {
		return nil, fmt.Errorf("ippusb: %w", usb.ErrNotIPP)
	}
	t := &Transport{
		rules:    escl.KnownQuirks(),
		dev:      dev,
		readSize: DefaultReadSize,
		xfer:     DefaultTransferTimeout,
		idle:     DefaultIdleTimeout,
		drain:    DefaultDrainTimeout,
		log:      slog.Default(),
		free:     nil,
		gone:     make(chan struct{}),
		closed:   make(chan struct{}),
	}
	for _, o := range opts {
		o(t)
	}
	n := len(pipes)
	if q := escl.QuirksOf(t.rules, escl.Identity{USB: dev.Desc().ID()}); q.USBMaxInterfaces > 0 {
		n = min(n, q.USBMaxInterfaces)
	}
	if t.maxIf > 0 {
		n = min(n, t.maxIf)
	}
	pipes = pipes[:n]
	t.free = make(chan *conn, n)
	for _, p := range pipes {
		c := &conn{t: t, pipe: p}
		c.r = &pipeReader{c: c}
		c.w = &pipeWriter{c: c}
		c.br = bufio.NewReaderSize(c.r, t.readSize)
		c.bw = bufio.NewWriterSize(c.w, t.readSize)
		t.free <- c
	}
	return t, nil
}

// Interfaces is how many IPP-over-USB interfaces the transport uses.
func (t *Transport) Interfaces() int { return cap(t.free) }

// Gone is closed when the device was found unplugged.
func (t *Transport) Gone() <-chan struct{} { return t.gone }

// Close makes later requests fail; requests in flight finish.
func (t *Transport) Close() error {
	t.closeOne.Do(func() { close(t.closed) })
	return nil
}

func (t *Transport) markGone() {
	t.goneOnce.Do(func() {
		t.log.Warn("ippusb: device unplugged")
		close(t.gone)
	})
}

// wrap gives an error its typed meaning for the layers above.
func (t *Transport) wrap(err error) error {
	switch {
	case errors.Is(err, usb.ErrUnplugged):
		t.markGone()
		return fmt.Errorf("ippusb: %w: %w", scanner.ErrUnplugged, err)
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("ippusb: %w", err)
	}
	return fmt.Errorf("ippusb: %w", err)
}

func (t *Transport) acquire(ctx context.Context) (*conn, error) {
	select {
	case <-t.gone:
		return nil, fmt.Errorf("ippusb: %w: %w", scanner.ErrUnplugged, usb.ErrUnplugged)
	case <-t.closed:
		return nil, ErrClosed
	default:
	}
	select {
	case c := <-t.free:
		return c, nil
	case <-t.gone:
		return nil, fmt.Errorf("ippusb: %w: %w", scanner.ErrUnplugged, usb.ErrUnplugged)
	case <-t.closed:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, fmt.Errorf("ippusb: waiting for an interface: %w", ctx.Err())
	}
}

// release puts c back into the pool.
func (t *Transport) release(c *conn) {
	t.free <- c
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	c, err := t.acquire(ctx)
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	if c.dirty {
		c.resync()
	}
	c.setCtx(ctx)
	// A request cut short cannot be finished: the interface is dirty.
	if err := req.Write(c.bw); err != nil {
		return nil, c.fail(fmt.Errorf("write request: %w", errors.Join(err, errPartial)), true, nil)
	}
	if err := c.bw.Flush(); err != nil {
		return nil, c.fail(fmt.Errorf("write request: %w", errors.Join(err, errPartial)), true, nil)
	}
	var resp *http.Response
	for {
		resp, err = http.ReadResponse(c.br, req)
		if err != nil {
			return nil, c.fail(err, false, nil)
		}
		// Interim answers (100 Continue) precede the real one.
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			_ = resp.Body.Close()
			continue
		}
		break
	}
	if resp.ContentLength == 0 || req.Method == http.MethodHead {
		_ = resp.Body.Close()
		resp.Body = http.NoBody
		t.release(c)
		return resp, nil
	}
	resp.Body = &body{c: c, rc: resp.Body}
	return resp, nil
}

// conn is one interface used as an HTTP connection.
type conn struct {
	t    *Transport
	pipe usb.Pipe
	r    *pipeReader
	w    *pipeWriter
	br   *bufio.Reader
	bw   *bufio.Writer
	// dirty marks a stream that lost step (a read failed mid-response);
	// it is resynchronised before the next request.
	dirty bool

	mu       sync.Mutex
	ctx      context.Context
	deadline time.Time
}

func (c *conn) setCtx(ctx context.Context) {
	c.mu.Lock()
	c.ctx = ctx
	c.deadline = time.Now().Add(c.t.idle)
	c.mu.Unlock()
}

func (c *conn) current() (context.Context, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ctx, c.deadline
}

func (c *conn) alive() {
	c.mu.Lock()
	c.deadline = time.Now().Add(c.t.idle)
	c.mu.Unlock()
}

// fail handles an error mid-exchange: an unplugged device ends the
// transport. A cancelled request leaves its answer still to come, so the
// interface finishes the exchange in the background (reading the headers
// if they had not come, then the body) before it returns to the pool;
// anything else leaves the interface dirty, to be resynchronised.
// headers says whether the response headers were already read; rc is the
// body, if any.
func (c *conn) fail(err error, headers bool, rc io.ReadCloser) error {
	werr := c.t.wrap(err)
	switch {
	case errors.Is(err, usb.ErrUnplugged):
		return werr
	case errors.Is(err, errPartial):
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		go c.finishExchange(headers, rc)
		return werr
	}
	c.dirty = true
	c.t.release(c)
	return werr
}

// finishExchange reads and discards the rest of an abandoned exchange.
func (c *conn) finishExchange(headers bool, rc io.ReadCloser) {
	ctx, cancel := context.WithTimeout(context.Background(), c.t.idle)
	defer cancel()
	c.setCtx(ctx)
	if !headers {
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil {
			c.abandon(err)
			return
		}
		rc = resp.Body
	}
	if rc != nil {
		if _, err := io.Copy(io.Discard, rc); err != nil {
			c.abandon(err)
			return
		}
		_ = rc.Close()
	}
	c.t.release(c)
}

func (c *conn) abandon(err error) {
	if errors.Is(err, usb.ErrUnplugged) {
		c.t.markGone()
		return
	}
	c.dirty = true
	c.t.release(c)
}

// resync discards whatever is left of an earlier response on the
// interface: reads until the device stays silent for one transfer
// time-out, bounded so a babbling device cannot hold us.
func (c *conn) resync() {
	c.br.Reset(c.r)
	c.bw.Reset(c.w)
	buf := make([]byte, c.t.readSize)
	for range 256 {
		ctx, cancel := context.WithTimeout(context.Background(), c.t.xfer)
		n, err := c.pipe.ReadContext(ctx, buf)
		cancel()
		if errors.Is(err, usb.ErrStall) {
			_ = c.pipe.ClearHalt()
			continue
		}
		if n == 0 || err != nil {
			break
		}
	}
	c.dirty = false
}

// pipeReader reads bulk in with the current request's context, repeating
// timed-out transfers until data comes, the request is cancelled or the
// response has been silent for the idle time-out.
type pipeReader struct{ c *conn }

// Read implements io.Reader.
func (r *pipeReader) Read(p []byte) (int, error) {
	c := r.c
	if len(p) > c.t.readSize {
		p = p[:c.t.readSize]
	}
	for {
		ctx, deadline := c.current()
		if ctx == nil {
			ctx = context.Background()
		}
		tctx, cancel := context.WithTimeout(ctx, c.t.xfer)
		n, err := c.pipe.ReadContext(tctx, p)
		cancel()
		if n > 0 {
			c.alive()
			return n, nil
		}
		switch {
		case err == nil: // zero-length packet
		case ctx.Err() != nil:
			return 0, ctx.Err()
		case errors.Is(err, usb.ErrTimeout):
		case errors.Is(err, usb.ErrStall):
			if cerr := c.pipe.ClearHalt(); cerr != nil {
				return 0, cerr
			}
		default:
			return 0, err
		}
		if time.Now().After(deadline) {
			return 0, ErrIdle
		}
	}
}

// pipeWriter writes bulk out with the current request's context.
type pipeWriter struct{ c *conn }

// Write implements io.Writer.
func (w *pipeWriter) Write(p []byte) (int, error) {
	c := w.c
	done := 0
	for done < len(p) {
		ctx, deadline := c.current()
		if ctx == nil {
			ctx = context.Background()
		}
		tctx, cancel := context.WithTimeout(ctx, c.t.xfer)
		n, err := c.pipe.WriteContext(tctx, p[done:])
		cancel()
		done += n
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return done, ctx.Err()
		case errors.Is(err, usb.ErrTimeout):
			if time.Now().After(deadline) {
				return done, ErrIdle
			}
		case errors.Is(err, usb.ErrStall):
			if cerr := c.pipe.ClearHalt(); cerr != nil {
				return done, cerr
			}
		default:
			return done, err
		}
	}
	return done, nil
}

// body is a response body that hands its interface back once read to the
// end, draining it first if closed early.
type body struct {
	c    *conn
	rc   io.ReadCloser
	once sync.Once
	err  error
	done bool
}

// Read implements io.Reader.
func (b *body) Read(p []byte) (int, error) {
	if b.done {
		// A failed body keeps failing: EOF would pass a cut page as whole.
		if b.err != nil {
			return 0, b.err
		}
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		b.finish(nil)
	case err != nil:
		err = b.finish(err)
	}
	return n, err
}

// finish returns the interface to the pool (or ends the transport) once.
func (b *body) finish(err error) error {
	b.once.Do(func() {
		b.done = true
		if err != nil {
			b.err = b.c.fail(err, true, b.rc)
			return
		}
		b.c.t.release(b.c)
	})
	if err != nil {
		return b.err
	}
	return nil
}

// Close drains what is left, so the next response on this interface
// starts in step, and hands the interface back.
func (b *body) Close() error {
	if b.done {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.c.t.drain)
	defer cancel()
	b.c.setCtx(ctx)
	_, err := io.Copy(io.Discard, b.rc)
	_ = b.rc.Close()
	if err != nil {
		_ = b.finish(err)
		return nil
	}
	b.finish(nil)
	return nil
}

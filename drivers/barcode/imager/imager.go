// Package imager reads a 2D barcode imager engine wired the common way: a
// UART for the data, a GPIO trigger line that starts a decode and a GPIO
// good-read line the engine pulses after a decode. It speaks Zebra SSI
// (framed, checksummed, acknowledged; see package ssi) or the plain
// "prefix data suffix" mode most engines offer.
//
// Bad input - stray bytes, a truncated or overlong frame, a checksum error,
// data that is no printable text - is counted (Stats) and logged without
// content, never delivered.
package imager

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/einwurf/einwurf/board"
	"github.com/einwurf/einwurf/drivers/barcode"
	"github.com/einwurf/einwurf/drivers/barcode/imager/ssi"
	"go.bug.st/serial"
	"periph.io/x/conn/v3/gpio"
)

// Mode is the serial protocol.
type Mode int

// Protocols.
const (
	// ModeSSI is Zebra's Simple Serial Interface.
	ModeSSI Mode = iota
	// ModePlain is "prefix data suffix" without checksum.
	ModePlain
)

// Config configures the imager.
type Config struct {
	// Mode is the protocol.
	Mode Mode
	// Baud is the UART speed; 0 means 9600 (the engines' default).
	Baud int
	// Parity is "N" (default), "E" or "O"; 8 data bits always.
	Parity string
	// StopBits is 1 (default) or 2.
	StopBits int
	// Prefix and Suffix frame a code in ModePlain. Suffix must not be
	// empty; nil means "\r". A nil Prefix means none.
	Prefix, Suffix []byte
	// MaxLen is the longest code accepted; 0 means 1024.
	MaxLen int
	// ByteTimeout is the longest silence inside a frame; a frame broken
	// by a longer one is truncated. 0 means 100 ms.
	ByteTimeout time.Duration
	// TriggerPulse is how long Trigger holds the trigger line asserted;
	// 0 means 50 ms.
	TriggerPulse time.Duration
	// ProbeTimeout bounds how long Health waits for the engine's answer
	// to a revision request (SSI); 0 means 1 s.
	ProbeTimeout time.Duration
	// FaultBurst bad frames within FaultWindow make the reader's state
	// fault; 0 means 5 and 30 s.
	FaultBurst  int
	FaultWindow time.Duration
	// ReopenEvery is how often a reader opened by Open tries to open its
	// serial port again after it failed (a USB serial adapter pulled out
	// and plugged in again); 0 means 1 s.
	ReopenEvery time.Duration
}

func (c Config) withDefaults() (Config, error) {
	if c.Baud == 0 {
		c.Baud = 9600
	}
	if c.Parity == "" {
		c.Parity = "N"
	}
	if c.StopBits == 0 {
		c.StopBits = 1
	}
	if c.Suffix == nil {
		c.Suffix = []byte("\r")
	}
	if c.MaxLen == 0 {
		c.MaxLen = 1024
	}
	if c.ByteTimeout == 0 {
		c.ByteTimeout = 100 * time.Millisecond
	}
	if c.TriggerPulse == 0 {
		c.TriggerPulse = 50 * time.Millisecond
	}
	if c.ProbeTimeout == 0 {
		c.ProbeTimeout = time.Second
	}
	if c.FaultBurst == 0 {
		c.FaultBurst = 5
	}
	if c.FaultWindow == 0 {
		c.FaultWindow = 30 * time.Second
	}
	if c.ReopenEvery == 0 {
		c.ReopenEvery = time.Second
	}
	switch {
	case c.Mode != ModeSSI && c.Mode != ModePlain:
		return c, fmt.Errorf("imager: unknown mode %d", c.Mode)
	case c.Parity != "N" && c.Parity != "E" && c.Parity != "O":
		return c, fmt.Errorf("imager: parity %q, want N, E or O", c.Parity)
	case c.StopBits != 1 && c.StopBits != 2:
		return c, fmt.Errorf("imager: %d stop bits, want 1 or 2", c.StopBits)
	case c.Baud < 1200 || c.Baud > 921600:
		return c, fmt.Errorf("imager: baud rate %d out of range", c.Baud)
	case c.Mode == ModePlain && len(c.Suffix) == 0:
		return c, errors.New("imager: plain mode needs a suffix")
	case c.MaxLen < 1 || c.MaxLen > 64<<10:
		return c, fmt.Errorf("imager: max length %d out of range", c.MaxLen)
	case c.ByteTimeout < time.Millisecond:
		return c, fmt.Errorf("imager: byte time-out %v too short", c.ByteTimeout)
	case c.ProbeTimeout < time.Millisecond:
		return c, fmt.Errorf("imager: probe time-out %v too short", c.ProbeTimeout)
	case c.FaultBurst < 1 || c.FaultBurst > maxFaultBurst:
		return c, fmt.Errorf("imager: fault burst %d out of range", c.FaultBurst)
	case c.FaultWindow < time.Millisecond:
		return c, fmt.Errorf("imager: fault window %v too short", c.FaultWindow)
	case c.ReopenEvery < time.Millisecond:
		return c, fmt.Errorf("imager: reopen interval %v too short", c.ReopenEvery)
	}
	return c, nil
}

// Port is the serial port as the reader uses it; go.bug.st/serial's Port
// satisfies it. A read that times out returns 0, nil.
type Port interface {
	io.ReadWriteCloser
	SetReadTimeout(t time.Duration) error
}

// OpenSerial opens the UART at path with cfg's speed, parity and stop
// bits, 8 data bits, no flow control.
func OpenSerial(path string, cfg Config) (Port, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	mode := &serial.Mode{BaudRate: cfg.Baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit}
	switch cfg.Parity {
	case "E":
		mode.Parity = serial.EvenParity
	case "O":
		mode.Parity = serial.OddParity
	}
	if cfg.StopBits == 2 {
		mode.StopBits = serial.TwoStopBits
	}
	p, err := serial.Open(path, mode)
	if err != nil {
		return nil, fmt.Errorf("imager: open %s: %w", path, err)
	}
	return p, nil
}

// Reader is a 2D imager. It implements barcode.Reader, barcode.Counter and
// barcode.Checker. A goroutine started by New reads the port until Close;
// Read, Trigger and WaitGoodRead may be called from any goroutine. A
// reader opened by Open outlives its port: when the port fails it opens it
// again every Config.ReopenEvery, and Read waits meanwhile (Health says
// why).
type Reader struct {
	cfg Config
	// port is the open port; portMu guards it, since a reader opened by
	// Open replaces a failed one (reopen). open opens it again (nil: New's
	// port cannot be reopened).
	portMu   sync.Mutex
	port     Port
	open     func() (Port, error)
	closing  chan struct{} // closed by Close: ends a wait to reopen
	trigger  *board.Line
	goodRead *board.Line
	log      *slog.Logger

	closed  atomic.Bool
	codes   chan barcode.Scan
	done    chan struct{} // closed when loop ends
	loopErr error         // why loop ended; read after done

	// loop's state.
	ssiSp   ssi.Splitter
	plainSp *plainSplitter
	multi   []byte // SSI multi-packet data so far
	multiOK bool   // false while discarding an overlong message
	symb    barcode.Symbology
	lastAck []byte // last acknowledged SSI frame, to spot retransmits

	trigMu sync.Mutex
	// writeMu keeps the loop's ACKs and Health's requests whole.
	writeMu sync.Mutex
	// health is Health's state (health.go).
	health health

	good, noise, truncated, overlong, checksum, invalid, dropped atomic.Uint64
}

// Open opens the imager of board b: the UART named by the profile's
// "serial" and, where the profile maps them, the trigger and good-read
// lines. log may be nil; it never receives code content.
func Open(b board.Board, cfg Config, log *slog.Logger) (*Reader, error) {
	return openBoard(b, cfg, log, false)
}

// OpenWaiting is Open for a kiosk that must start without its reader:
// when the UART cannot be opened now (a USB serial adapter not plugged
// in, a device node not there yet) the reader is returned anyway, absent
// or offline (Health) and opening the port every Config.ReopenEvery until
// it works; Read waits meanwhile. A configuration or board error is still
// an error.
func OpenWaiting(b board.Board, cfg Config, log *slog.Logger) (*Reader, error) {
	return openBoard(b, cfg, log, true)
}

func openBoard(b board.Board, cfg Config, log *slog.Logger, wait bool) (*Reader, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	path := b.Profile().Serial
	if path == "" {
		return nil, fmt.Errorf("imager: profile %s names no serial port", b.Profile().Name)
	}
	var trig, good *board.Line
	if l, err := b.Line(board.ReaderTrigger); err == nil {
		trig = &l
	} else if !errors.Is(err, board.ErrNoSignal) {
		return nil, fmt.Errorf("imager: %w", err)
	}
	if l, err := b.Line(board.ReaderGoodRead); err == nil {
		good = &l
	} else if !errors.Is(err, board.ErrNoSignal) {
		return nil, fmt.Errorf("imager: %w", err)
	}
	port, err := OpenSerial(path, cfg)
	if err != nil && !wait {
		return nil, err
	}
	if err != nil {
		port = nil // opened by the reading goroutine once it can be
	}
	r, err := newReader(port, trig, good, cfg, log, path, func() (Port, error) { return OpenSerial(path, cfg) })
	if err != nil {
		if port != nil {
			port.Close()
		}
		return nil, err
	}
	return r, nil
}

// New returns a reader on port. trigger and goodRead may be nil when the
// engine is wired without them. The trigger line is released (driven to
// its idle level) and the good-read line set up as an input.
func New(port Port, trigger, goodRead *board.Line, cfg Config, log *slog.Logger) (*Reader, error) {
	return newReader(port, trigger, goodRead, cfg, log, "", nil)
}

// newReader is New for a port at path that open opens again after it
// failed (path "" and open nil: it cannot be).
func newReader(port Port, trigger, goodRead *board.Line, cfg Config, log *slog.Logger, path string, open func() (Port, error)) (*Reader, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	if port != nil {
		if err := port.SetReadTimeout(cfg.ByteTimeout); err != nil {
			return nil, fmt.Errorf("imager: set read time-out: %w", err)
		}
	}
	if trigger != nil {
		if err := trigger.Set(false); err != nil {
			return nil, fmt.Errorf("imager: %w", err)
		}
	}
	if goodRead != nil {
		if err := goodRead.In(goodRead.Pull, bothEdges); err != nil {
			return nil, fmt.Errorf("imager: good-read line: %w", err)
		}
	}
	r := &Reader{cfg: cfg, port: port, open: open, closing: make(chan struct{}), trigger: trigger, goodRead: goodRead,
		log: log.With("reader", "imager"), multiOK: true, codes: make(chan barcode.Scan, queueSize), done: make(chan struct{})}
	r.health.init(cfg)
	r.health.path = path
	r.health.down.Store(port == nil) // OpenWaiting without its port yet
	if cfg.Mode == ModePlain {
		r.plainSp = newPlainSplitter(cfg.Prefix, cfg.Suffix, cfg.MaxLen)
	}
	go r.loop()
	return r, nil
}

// ErrNoLine means the engine is wired without the line asked for.
var ErrNoLine = errors.New("imager: line not wired")

// Trigger pulses the trigger line: asserted for TriggerPulse, then
// released, so the engine starts one decode session.
func (r *Reader) Trigger(ctx context.Context) error {
	if r.trigger == nil {
		return fmt.Errorf("%w: trigger", ErrNoLine)
	}
	r.trigMu.Lock()
	defer r.trigMu.Unlock()
	if err := r.trigger.Set(true); err != nil {
		return fmt.Errorf("imager: %w", err)
	}
	t := time.NewTimer(r.cfg.TriggerPulse)
	defer t.Stop()
	var cerr error
	select {
	case <-t.C:
	case <-ctx.Done():
		cerr = ctx.Err()
	}
	// Released in every case: a stuck trigger keeps the illumination on.
	if err := r.trigger.Set(false); err != nil {
		return fmt.Errorf("imager: %w", err)
	}
	return cerr
}

// WaitGoodRead blocks until the engine asserts its good-read line, ctx is
// done or the reader is closed.
func (r *Reader) WaitGoodRead(ctx context.Context) error {
	if r.goodRead == nil {
		return fmt.Errorf("%w: good read", ErrNoLine)
	}
	for {
		if r.closed.Load() {
			return barcode.ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if r.goodRead.WaitForEdge(50*time.Millisecond) && r.goodRead.Asserted() {
			return nil
		}
	}
}

// queueSize is how many codes wait for Read; a kiosk reads continuously,
// so more would only be stale codes.
const queueSize = 4

// loop reads the port until it is closed or fails, answering the engine
// at once (SSI wants its ACK within a few hundred milliseconds) and seeing
// silence as it happens, whether or not anybody is calling Read.
func (r *Reader) loop() {
	defer close(r.done)
	buf := make([]byte, 256)
	port := r.currentPort()
	if port == nil { // OpenWaiting: not there yet
		if port = r.reopen(nil); port == nil {
			r.loopErr = barcode.ErrClosed
			return
		}
		r.log.Info("serial port open")
	}
	for {
		n, err := port.Read(buf)
		if r.closed.Load() {
			r.loopErr = barcode.ErrClosed
			return
		}
		if err != nil && r.open != nil {
			r.log.Warn("serial port failed; opening it again", "err", err)
			if port = r.reopen(port); port == nil {
				r.loopErr = barcode.ErrClosed
				return
			}
			r.log.Info("serial port open again")
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				r.loopErr = err
			} else {
				r.loopErr = fmt.Errorf("imager: read: %w", err)
			}
			return
		}
		if n == 0 {
			r.silence()
			continue
		}
		for _, b := range buf[:n] {
			s, ok, err := r.push(b)
			if err != nil {
				r.loopErr = err
				return
			}
			if !ok {
				continue
			}
			select {
			case r.codes <- s:
			default:
				r.dropped.Add(1)
				r.log.Warn("code dropped", "why", "nobody reading")
			}
		}
	}
}

// Read returns the next code read. Bad frames are counted, answered with a
// NAK in SSI mode, and skipped. After Close it returns barcode.ErrClosed;
// when the port fails, that error once the queued codes are read.
func (r *Reader) Read(ctx context.Context) (barcode.Scan, error) {
	select {
	case s := <-r.codes:
		return s, nil
	default:
	}
	select {
	case s := <-r.codes:
		return s, nil
	case <-r.done:
		select {
		case s := <-r.codes:
			return s, nil
		default:
			return barcode.Scan{}, r.loopErr
		}
	case <-ctx.Done():
		return barcode.Scan{}, ctx.Err()
	}
}

// silence handles a read time-out: a frame broken off is truncated.
func (r *Reader) silence() {
	if r.plainSp != nil {
		trunc, over := r.plainSp.abort()
		if trunc {
			r.bad(&r.truncated, "truncated frame")
		}
		if over {
			r.bad(&r.overlong, "overlong frame")
		}
		return
	}
	if r.ssiSp.Reset() {
		r.bad(&r.truncated, "truncated frame")
	}
}

func (r *Reader) bad(c *atomic.Uint64, what string) {
	c.Add(1)
	r.health.badFrame()
	r.log.Warn("input dropped", "why", what)
}

func (r *Reader) push(b byte) (barcode.Scan, bool, error) {
	if r.plainSp != nil {
		data, ev := r.plainSp.push(b)
		switch ev {
		case plainNoise:
			r.noise.Add(1)
		case plainOverlong:
			r.bad(&r.overlong, "overlong frame")
		case plainFrame:
			return r.deliver(data, barcode.SymbologyUnknown)
		}
		return barcode.Scan{}, false, nil
	}
	frame, noise := r.ssiSp.Push(b)
	if noise {
		r.noise.Add(1)
	}
	if frame == nil {
		return barcode.Scan{}, false, nil
	}
	return r.handleSSI(frame)
}

func (r *Reader) send(frame []byte) error {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	port := r.currentPort()
	if port == nil {
		return fmt.Errorf("imager: write: %w", errNoPort)
	}
	if _, err := port.Write(frame); err != nil {
		return fmt.Errorf("imager: write: %w", err)
	}
	return nil
}

// sameFrame reports whether a and b are the same packet apart from the
// retransmit bit (and hence the checksum).
func sameFrame(a, b []byte) bool {
	if len(a) != len(b) || len(a) < ssi.HeaderLen+2 {
		return false
	}
	n := len(a) - 2
	return bytes.Equal(a[:3], b[:3]) && a[3]&^ssi.StatusRetransmit == b[3]&^ssi.StatusRetransmit && bytes.Equal(a[4:n], b[4:n])
}

func (r *Reader) handleSSI(frame []byte) (barcode.Scan, bool, error) {
	p, err := ssi.Decode(frame)
	if err != nil {
		r.bad(&r.checksum, "bad SSI frame")
		return barcode.Scan{}, false, r.send(ssi.NAK(ssi.NAKResend))
	}
	if p.Source == ssi.SourceHost {
		// Our own ACK/NAK echoed back: nothing to do.
		return barcode.Scan{}, false, nil
	}
	// Any good frame of the engine shows it is there and answering.
	r.health.heard()
	switch p.Opcode {
	case ssi.OpACK, ssi.OpNAK, ssi.OpReplyRevision:
		// Answers to host requests (Health's revision request); the
		// reader sends none that wait, and replies are not acknowledged.
		return barcode.Scan{}, false, nil
	case ssi.OpDecodeData:
	default:
		// Events and anything else are acknowledged and ignored.
		return barcode.Scan{}, false, r.send(ssi.ACK())
	}
	if p.Status&ssi.StatusRetransmit != 0 && sameFrame(frame, r.lastAck) {
		// Our ACK was lost: acknowledge again, deliver nothing twice.
		return barcode.Scan{}, false, r.send(ssi.ACK())
	}
	r.lastAck = append(r.lastAck[:0], frame...)
	if err := r.send(ssi.ACK()); err != nil {
		return barcode.Scan{}, false, err
	}
	if len(p.Data) < 1 {
		r.bad(&r.invalid, "decode data without barcode type")
		return barcode.Scan{}, false, nil
	}
	if len(r.multi) == 0 {
		r.symb = ssi.Symbology(p.Data[0])
	}
	if r.multiOK && len(r.multi)+len(p.Data)-1 <= r.cfg.MaxLen {
		r.multi = append(r.multi, p.Data[1:]...)
	} else {
		r.multiOK = false
		r.multi = r.multi[:0]
	}
	if p.Status&ssi.StatusContinuation != 0 {
		// More packets follow; an overlong message stays marked so its
		// tail is discarded too.
		return barcode.Scan{}, false, nil
	}
	data, ok := r.multi, r.multiOK
	r.multi, r.multiOK = r.multi[:0], true
	if !ok {
		r.bad(&r.overlong, "overlong code")
		return barcode.Scan{}, false, nil
	}
	return r.deliver(data, r.symb)
}

// deliver checks that data is printable text and returns it as a scan.
func (r *Reader) deliver(data []byte, sym barcode.Symbology) (barcode.Scan, bool, error) {
	if err := checkText(data, r.cfg.MaxLen); err != nil {
		r.bad(&r.invalid, err.Error())
		return barcode.Scan{}, false, nil
	}
	r.good.Add(1)
	return barcode.Scan{Data: string(data), Symbology: sym}, true, nil
}

// ErrNotText means a frame's data is empty, too long, not UTF-8 or holds
// control characters.
var ErrNotText = fmt.Errorf("imager: code is no text: %w", barcode.ErrInvalid)

func checkText(b []byte, max int) error {
	switch {
	case len(b) == 0:
		return fmt.Errorf("%w: empty", ErrNotText)
	case len(b) > max:
		return fmt.Errorf("%w: too long", ErrNotText)
	case !utf8.Valid(b):
		return fmt.Errorf("%w: not UTF-8", ErrNotText)
	}
	for _, c := range string(b) {
		if unicode.IsControl(c) {
			return fmt.Errorf("%w: control character", ErrNotText)
		}
	}
	return nil
}

// Stats implements barcode.Counter.
func (r *Reader) Stats() barcode.Stats {
	return barcode.Stats{
		Good: r.good.Load(), Noise: r.noise.Load(), Truncated: r.truncated.Load(),
		Overlong: r.overlong.Load(), Checksum: r.checksum.Load(), Invalid: r.invalid.Load(),
		Dropped: r.dropped.Load(),
	}
}

// Close closes the port and waits (at most a few ByteTimeouts) for the
// reading goroutine to end; Read then returns barcode.ErrClosed.
func (r *Reader) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	if r.trigger != nil {
		_ = r.trigger.Set(false)
	}
	close(r.closing)
	var err error
	r.portMu.Lock()
	if r.port != nil {
		err = r.port.Close()
	}
	r.portMu.Unlock()
	select {
	case <-r.done:
	case <-time.After(10 * r.cfg.ByteTimeout):
		// The port's Read ignores Close and its time-out; do not hang.
	}
	return err
}

// bothEdges is the edge setting for the good-read input.
const bothEdges = gpio.BothEdges

// errNoPort means the port is not open (OpenWaiting before it could be).
var errNoPort = errors.New("serial port not open")

// currentPort is the port open now (nil: OpenWaiting's, not yet).
func (r *Reader) currentPort() Port {
	r.portMu.Lock()
	defer r.portMu.Unlock()
	return r.port
}

// reopen closes the failed port and opens it again every ReopenEvery
// until that works (the new port) or the reader is closed (nil). Meanwhile
// Health reports the outage (absent while the device node is gone, else
// offline); a frame broken off by the failure is dropped.
func (r *Reader) reopen(failed Port) Port {
	r.health.portDown(true)
	defer r.health.portDown(false)
	if failed != nil {
		_ = failed.Close()
	}
	r.silence()
	t := time.NewTicker(r.cfg.ReopenEvery)
	defer t.Stop()
	for {
		select {
		case <-r.closing:
			return nil
		case <-t.C:
		}
		p, err := r.open()
		if err != nil {
			continue
		}
		if err := p.SetReadTimeout(r.cfg.ByteTimeout); err != nil {
			_ = p.Close()
			continue
		}
		r.portMu.Lock()
		if r.closed.Load() {
			r.portMu.Unlock()
			_ = p.Close()
			return nil
		}
		r.port = p
		r.portMu.Unlock()
		return p
	}
}

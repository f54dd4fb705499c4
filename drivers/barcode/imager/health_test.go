package imager

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/barcode"
	"github.com/einwurf/einwurf/drivers/barcode/imager/ssi"
)

var _ barcode.Checker = (*Reader)(nil)

// engine plays the SSI engine's side of the pty for Health: it answers
// each REQUEST_REVISION with reply (nil: stays silent) and records the
// opcodes the host sent.
type engine struct {
	f     *os.File
	reply func() []byte

	mu  sync.Mutex
	ops []byte
}

func startEngine(t *testing.T, f *os.File, reply func() []byte) *engine {
	t.Helper()
	e := &engine{f: f, reply: reply}
	go func() {
		var sp ssi.Splitter
		buf := make([]byte, 64)
		for {
			n, err := f.Read(buf)
			if err != nil {
				return
			}
			for _, b := range buf[:n] {
				fr, _ := sp.Push(b)
				if fr == nil {
					continue
				}
				p, err := ssi.Decode(fr)
				if err != nil {
					continue
				}
				e.mu.Lock()
				e.ops = append(e.ops, p.Opcode)
				e.mu.Unlock()
				if p.Opcode == ssi.OpRequestRevision && e.reply != nil {
					_, _ = f.Write(e.reply())
				}
			}
		}
	}()
	return e
}

func (e *engine) sent(op byte) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, o := range e.ops {
		if o == op {
			n++
		}
	}
	return n
}

func replyRevision() []byte {
	b, _ := ssi.Encode(ssi.Packet{Opcode: ssi.OpReplyRevision, Source: ssi.SourceDecoder, Data: []byte("NBRFMAAC 1.2")})
	return b
}

func decoderACK() []byte {
	b, _ := ssi.Encode(ssi.Packet{Opcode: ssi.OpACK, Source: ssi.SourceDecoder})
	return b
}

func askHealth(t *testing.T, r *Reader) barcode.Health {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := r.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// waitHealth asks until the reader reports want (a generous deadline: the
// loop notices a failed port within a ByteTimeout or so).
func waitHealth(t *testing.T, r *Reader, want barcode.Health) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		h := askHealth(t, r)
		if h == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("health %+v, want %+v", h, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// answerTime is the probe's time-out where the engine answers: generous,
// so a loaded or emulated machine never turns an answer into no-answer.
const answerTime = time.Minute

var answered = barcode.Health{State: barcode.StateOK, Reason: barcode.ReasonAnswered, Asked: true}

// TestHealthAnswering: an engine that replies to the revision request,
// and one that only acknowledges it (as vm/ssiengine does), are there.
// The reply is not acknowledged (it is a reply), nothing is delivered.
func TestHealthAnswering(t *testing.T) {
	for name, reply := range map[string]func() []byte{"reply-revision": replyRevision, "ack": decoderACK} {
		t.Run(name, func(t *testing.T) {
			g := newRig(t, Config{ProbeTimeout: answerTime})
			e := startEngine(t, g.engine, reply)
			for range 3 {
				if h := askHealth(t, g.r); h != answered {
					t.Fatalf("health %+v", h)
				}
			}
			if n := e.sent(ssi.OpRequestRevision); n != 3 {
				t.Fatalf("%d revision requests sent, want 3", n)
			}
			if n := e.sent(ssi.OpACK); n != 0 {
				t.Fatalf("the host acknowledged a reply %d times", n)
			}
			g.expectNone(t)
			if st := g.r.Stats(); st != (barcode.Stats{}) {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestHealthSilent: an engine that never answers is offline, reported
// after the probe's time-out, not later.
func TestHealthSilent(t *testing.T) {
	g := newRig(t, Config{ProbeTimeout: 50 * time.Millisecond})
	e := startEngine(t, g.engine, nil)
	want := barcode.Health{State: barcode.StateOffline, Reason: barcode.ReasonNoAnswer, Asked: true}
	if h := askHealth(t, g.r); h != want {
		t.Fatalf("health %+v, want %+v", h, want)
	}
	if n := e.sent(ssi.OpRequestRevision); n != 1 {
		t.Fatalf("%d requests", n)
	}
}

// TestHealthClosed: a closed reader is offline without asking.
func TestHealthClosed(t *testing.T) {
	g := newRig(t, Config{})
	e := startEngine(t, g.engine, replyRevision)
	g.r.Close()
	if h := askHealth(t, g.r); h != (barcode.Health{State: barcode.StateOffline, Reason: barcode.ReasonClosed}) {
		t.Fatalf("health %+v", h)
	}
	if n := e.sent(ssi.OpRequestRevision); n != 0 {
		t.Fatalf("a closed reader sent %d requests", n)
	}
}

// TestHealthUnplugged: the far end goes away (the pty's master closed:
// its /dev/pts node vanishes, as a USB serial adapter's does when pulled).
// The reading goroutine's read fails and the reader is absent.
func TestHealthUnplugged(t *testing.T) {
	g := newRig(t, Config{ProbeTimeout: answerTime})
	startEngine(t, g.engine, replyRevision)
	if h := askHealth(t, g.r); h != answered {
		t.Fatalf("health %+v", h)
	}
	g.engine.Close()
	waitHealth(t, g.r, barcode.Health{State: barcode.StateAbsent, Reason: barcode.ReasonGone})
}

// TestHealthPortFailed: a port that fails (by New, so without a device
// node to look at) is offline.
func TestHealthPortFailed(t *testing.T) {
	r, err := New(&fakePort{in: bytes.NewReader(nil)}, nil, nil, Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	waitHealth(t, r, barcode.Health{State: barcode.StateOffline, Reason: barcode.ReasonPortError})
}

// TestHealthFault: a burst of bad frames is a fault, even while the
// engine answers; once the burst is older than the window the engine's
// answer counts again.
func TestHealthFault(t *testing.T) {
	g := newRig(t, Config{FaultBurst: 3, FaultWindow: time.Minute, ProbeTimeout: answerTime})
	startEngine(t, g.engine, replyRevision)
	var mu sync.Mutex
	now := time.Now()
	g.r.health.mu.Lock()
	g.r.health.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	g.r.health.mu.Unlock()
	bad := decodeFrame(t, 0, 0x03, "035F083761")
	bad[len(bad)-1] ^= 0xFF
	// The engine's goroutine reads the host's NAKs; the counts show the
	// loop took each frame.
	sendBad := func(n uint64) {
		t.Helper()
		g.send(t, bad)
		deadline := time.Now().Add(20 * time.Second)
		for g.r.Stats().Checksum < n {
			if time.Now().After(deadline) {
				t.Fatalf("bad frame %d not counted", n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	sendBad(1)
	sendBad(2)
	if h := askHealth(t, g.r); h != answered {
		t.Fatalf("two bad frames of three: health %+v", h)
	}
	sendBad(3)
	waitHealth(t, g.r, barcode.Health{State: barcode.StateFault, Reason: barcode.ReasonBadFrames})
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	if h := askHealth(t, g.r); h != answered {
		t.Fatalf("after the window: health %+v", h)
	}
}

// TestHealthPlain: plain mode cannot ask; an open port is ok, not asked,
// and nothing is written to the engine.
func TestHealthPlain(t *testing.T) {
	g := newRig(t, Config{Mode: ModePlain})
	e := startEngine(t, g.engine, replyRevision)
	if h := askHealth(t, g.r); h != (barcode.Health{State: barcode.StateOK, Reason: barcode.ReasonPortOpen}) {
		t.Fatalf("health %+v", h)
	}
	g.r.Close()
	if h := askHealth(t, g.r); h.State != barcode.StateOffline {
		t.Fatalf("closed: health %+v", h)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.ops) != 0 {
		t.Fatalf("plain mode wrote %x", e.ops)
	}
}

// TestHealthDoesNotStallReads: while a probe waits for an engine that
// does not answer revision requests, a customer's code is still read and
// acknowledged at once; the decode answers the probe too.
func TestHealthDoesNotStallReads(t *testing.T) {
	g := newRig(t, Config{ProbeTimeout: time.Hour})
	done := make(chan barcode.Health, 1)
	go func() {
		h, _ := g.r.Health(context.Background())
		done <- h
	}()
	// The request arrives at the engine: the probe is waiting.
	g.expectFromHost(t, revisionRequest)
	g.send(t, decodeFrame(t, 0, 0x03, "035F083761"))
	if s := g.read(t); s.Data != "035F083761" {
		t.Fatalf("scan %+v", s)
	}
	g.expectFromHost(t, ssi.ACK())
	select {
	case h := <-done:
		if h != answered {
			t.Fatalf("health %+v", h)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the decode did not answer the probe")
	}
}

// TestHealthContext: a done context ends a probe with its error, at once
// and while it waits.
func TestHealthContext(t *testing.T) {
	g := newRig(t, Config{ProbeTimeout: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.r.Health(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := g.r.Health(ctx)
		done <- err
	}()
	g.expectFromHost(t, revisionRequest)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Health ignored its context")
	}
	// A second prober waits for the first, or its own context.
	ctx, cancel = context.WithCancel(context.Background())
	go func() { _, _ = g.r.Health(ctx) }()
	g.expectFromHost(t, revisionRequest)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if _, err := g.r.Health(ctx2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second prober: err = %v", err)
	}
	cancel()
}

// TestReplugged: a USB serial adapter pulled out and plugged in again. The
// reader (as Open makes it) is absent while its device node is gone, opens
// the port again when it is back, answers, and a Read that waited through
// the outage gets the next code; the reading goroutine never ended.
func TestReplugged(t *testing.T) {
	m, slave := openPTY(t)
	var path atomic.Pointer[string]
	path.Store(&slave)
	cfg := Config{ByteTimeout: 30 * time.Millisecond, ReopenEvery: 10 * time.Millisecond, ProbeTimeout: answerTime}
	port, err := OpenSerial(slave, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := newReader(port, nil, nil, cfg, nil, slave, func() (Port, error) { return OpenSerial(*path.Load(), cfg) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	startEngine(t, m, replyRevision)
	if h := askHealth(t, r); h != answered {
		t.Fatalf("health %+v", h)
	}
	read := make(chan barcode.Scan, 1)
	go func() {
		s, err := r.Read(context.Background())
		if err != nil {
			t.Errorf("Read across the outage: %v", err)
		}
		read <- s
	}()
	m.Close() // pulled out: /dev/pts/N is gone
	waitHealth(t, r, barcode.Health{State: barcode.StateAbsent, Reason: barcode.ReasonGone})
	m2, slave2 := openPTY(t) // plugged in again (here under another name)
	path.Store(&slave2)
	startEngine(t, m2, replyRevision)
	waitHealth(t, r, answered)
	presentCode(t, m2, read, "the code after the replug was not read")
	select {
	case <-r.done:
		t.Fatal("the reading goroutine ended with the port")
	default:
	}
}

// TestOpenWaiting: a kiosk started while its reader's USB serial adapter
// is not plugged in starts anyway: the reader is absent until the device
// node appears (here a symbolic link to a pty, made later), then opens it,
// answers and reads. Open itself still refuses a missing port.
func TestOpenWaiting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ttyUSB0")
	b := boardWithSerial(t, path)
	defer b.Close()
	cfg := Config{ByteTimeout: 30 * time.Millisecond, ReopenEvery: 10 * time.Millisecond, ProbeTimeout: answerTime}
	if _, err := Open(b, cfg, nil); err == nil {
		t.Fatal("Open opened a missing port")
	}
	r, err := OpenWaiting(b, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	waitHealth(t, r, barcode.Health{State: barcode.StateAbsent, Reason: barcode.ReasonGone})
	read := make(chan barcode.Scan, 1)
	go func() {
		s, _ := r.Read(context.Background())
		read <- s
	}()
	m, slave := openPTY(t)
	startEngine(t, m, replyRevision)
	if err := os.Symlink(slave, path); err != nil {
		t.Fatal(err)
	}
	waitHealth(t, r, answered)
	presentCode(t, m, read, "no code once the port was there")
	// Closed while waiting for a port: Close does not hang.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	r2, err := OpenWaiting(b, Config{ReopenEvery: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h := askHealth(t, r2); h.State != barcode.StateAbsent {
		t.Fatalf("waiting: %+v", h)
	}
	r2.Close()
	if h := askHealth(t, r2); h.Reason != barcode.ReasonClosed {
		t.Fatalf("closed: %+v", h)
	}
}

// presentCode sends a decode of a customer number from the engine's end m
// and waits for a Read already waiting to deliver it on read.
func presentCode(t *testing.T, m *os.File, read <-chan barcode.Scan, what string) {
	t.Helper()
	if _, err := m.Write(decodeFrame(t, 0, 0x03, "035F083761")); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-read:
		if s.Data != "035F083761" {
			t.Fatalf("scan %+v", s)
		}
	case <-time.After(20 * time.Second):
		t.Fatal(what)
	}
}

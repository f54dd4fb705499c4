package ssiengine_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/barcode"
	"github.com/einwurf/einwurf/drivers/barcode/imager"
	"github.com/einwurf/einwurf/vm/ssiengine"
)

var quiet = slog.New(slog.DiscardHandler)

// port is a net.Conn as an imager.Port: a read that times out returns 0,
// nil.
type port struct {
	net.Conn
	timeout time.Duration
}

func (p *port) SetReadTimeout(d time.Duration) error { p.timeout = d; return nil }

func (p *port) Read(b []byte) (int, error) {
	_ = p.Conn.SetReadDeadline(time.Now().Add(p.timeout))
	n, err := p.Conn.Read(b)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return n, nil
	}
	return n, err
}

func pair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		ch <- c
	}()
	a, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-ch
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	return a, b
}

// TestPresentedBeforeTheHostListens: the engine presents a code while
// nobody reads the UART (the guest has not opened its tty); its
// retransmissions pile up, and the kiosk's reader, once started, delivers
// the code once and acknowledges every copy.
func TestPresentedBeforeTheHostListens(t *testing.T) {
	engineSide, hostSide := pair(t)
	e := ssiengine.New(engineSide, quiet)
	e.Retry = 20 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.Present(ctx, "123D456789", ssiengine.TypeCode128) }()
	for e.Sent() < 5 {
		time.Sleep(5 * time.Millisecond)
	}
	r, err := imager.New(&port{Conn: hostSide}, nil, nil, imager.Config{Mode: imager.ModeSSI}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s, err := r.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.Data != "123D456789" || s.Symbology != barcode.SymbologyCode128 {
		t.Fatalf("read %+v", s)
	}
	if err := <-done; err != nil {
		t.Fatalf("Present: %v", err)
	}
	short, cancel2 := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel2()
	if s, err := r.Read(short); err == nil {
		t.Fatalf("a second code %+v from the retransmissions", s)
	}
	if st := r.Stats(); st.Good != 1 {
		t.Fatalf("stats %+v, want one good read", st)
	}
}

// TestLongCodeInPackets: a code longer than one SSI packet goes as a
// multi-packet message and arrives whole.
func TestLongCodeInPackets(t *testing.T) {
	engineSide, hostSide := pair(t)
	e := ssiengine.New(engineSide, quiet)
	r, err := imager.New(&port{Conn: hostSide}, nil, nil, imager.Config{Mode: imager.ModeSSI}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code := strings.Repeat("0123456789", 60)
	go func() { _ = e.Present(ctx, code, ssiengine.TypeDataMatrix) }()
	s, err := r.Read(ctx)
	if err != nil || s.Data != code || s.Symbology != barcode.SymbologyDataMatrix {
		t.Fatalf("read %d bytes %v %v", len(s.Data), s.Symbology, err)
	}
}

// TestNoAck: without a host the engine gives up when ctx ends.
func TestNoAck(t *testing.T) {
	engineSide, _ := pair(t)
	e := ssiengine.New(engineSide, quiet)
	e.Retry = 10 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := e.Present(ctx, "1", ssiengine.TypeCode128); !errors.Is(err, ssiengine.ErrNoAck) {
		t.Fatalf("%v, want ErrNoAck", err)
	}
	if e.Sent() < 3 {
		t.Fatalf("%d frames sent, want retransmissions", e.Sent())
	}
}

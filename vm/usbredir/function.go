package usbredir

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// HTTPFunction is an Interface's Open that serves h over the bulk pair, one
// HTTP/1.1 connection that never closes, as IPP over USB does: each
// interface is a connection of its own.
func HTTPFunction(h http.Handler, log *slog.Logger) func() (io.ReadWriteCloser, error) {
	return func() (io.ReadWriteCloser, error) {
		guest, dev := net.Pipe()
		hs := &http.Server{Handler: h, ReadHeaderTimeout: time.Minute, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		l := &oneConn{c: dev, done: make(chan struct{})}
		go func() { _ = hs.Serve(l) }()
		return &httpConn{Conn: guest, hs: hs}, nil
	}
}

type httpConn struct {
	net.Conn
	hs *http.Server
}

func (c *httpConn) Close() error {
	err := c.Conn.Close()
	_ = c.hs.Close()
	return err
}

// oneConn is a listener that accepts one connection, then waits to be
// closed.
type oneConn struct {
	mu   sync.Mutex
	c    net.Conn
	done chan struct{}
	once sync.Once
}

func (l *oneConn) Accept() (net.Conn, error) {
	l.mu.Lock()
	c := l.c
	l.c = nil
	l.mu.Unlock()
	if c != nil {
		return c, nil
	}
	<-l.done
	return nil, net.ErrClosed
}

func (l *oneConn) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *oneConn) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "usb" }
func (pipeAddr) String() string  { return "usb" }

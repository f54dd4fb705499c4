// Package ssiengine plays a 2D imager engine in SSI mode (Zebra's Simple
// Serial Interface, the framing of drivers/barcode/imager/ssi) on the far
// end of a UART: the host side of a QEMU serial chardev, so that the
// virtual board's kernel drives a real UART (pci-serial, the 8250 driver)
// and the kiosk's drivers/barcode/imager reads what this engine decodes.
//
// An engine retransmits a decode until the host acknowledges it, as SSI
// asks: the first copy has status 0, later ones the retransmit bit, which
// the host answers with an ACK without delivering the code twice. So a
// code presented before the guest has opened its tty still arrives once.
package ssiengine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/einwurf/einwurf/drivers/barcode/imager/ssi"
)

// Barcode types of DECODE_DATA's first data byte (ssi.Symbology).
const (
	TypeCode128    byte = 0x03
	TypeDataMatrix byte = 0x1B
	TypeQR         byte = 0x1C
)

// ErrNoAck means the host did not acknowledge a decode in time.
var ErrNoAck = errors.New("ssiengine: decode not acknowledged")

// Engine is an imager engine on conn. Present sends one code at a time.
type Engine struct {
	conn net.Conn
	log  *slog.Logger
	// Retry is the time between retransmissions (default 500 ms).
	Retry time.Duration

	mu   sync.Mutex
	acks chan bool // true: ACK, false: NAK; read by Present
	done chan struct{}
	err  error
	sent int // frames written
}

// New starts an engine on conn; it reads the host's answers until conn
// closes.
func New(conn net.Conn, log *slog.Logger) *Engine {
	e := &Engine{conn: conn, log: log, Retry: 500 * time.Millisecond, acks: make(chan bool, 16), done: make(chan struct{})}
	go e.read()
	return e
}

// Close closes the connection.
func (e *Engine) Close() error {
	err := e.conn.Close()
	<-e.done
	return err
}

// Sent is the number of frames written so far (retransmissions included).
func (e *Engine) Sent() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sent
}

func (e *Engine) read() {
	defer close(e.done)
	var sp ssi.Splitter
	buf := make([]byte, 256)
	for {
		_ = e.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := e.conn.Read(buf)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			sp.Reset() // silence inside a frame: it was cut short
			continue
		}
		if err != nil {
			e.mu.Lock()
			e.err = err
			e.mu.Unlock()
			return
		}
		for _, b := range buf[:n] {
			frame, _ := sp.Push(b)
			if frame == nil {
				continue
			}
			p, err := ssi.Decode(frame)
			if err != nil {
				e.log.Warn("ssiengine: bad frame from the host", "err", err)
				continue
			}
			switch p.Opcode {
			case ssi.OpACK, ssi.OpNAK:
				select {
				case e.acks <- p.Opcode == ssi.OpACK:
				default:
				}
			default:
				// A host command (start/stop decode, scan enable): the
				// engine acknowledges it.
				ack, _ := ssi.Encode(ssi.Packet{Opcode: ssi.OpACK, Source: ssi.SourceDecoder})
				_ = e.write(ack)
			}
		}
	}
}

func (e *Engine) write(frame []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sent++
	_, err := e.conn.Write(frame)
	return err
}

// Present decodes code (of barcode type typ) and sends it as DECODE_DATA
// (several packets if it is long), each retransmitted every Retry until
// the host acknowledges it or ctx ends (ErrNoAck).
func (e *Engine) Present(ctx context.Context, code string, typ byte) error {
	data := []byte(code)
	for first := true; first || len(data) > 0; first = false {
		n := min(len(data), ssi.MaxData-1)
		p := ssi.Packet{Opcode: ssi.OpDecodeData, Source: ssi.SourceDecoder, Data: append([]byte{typ}, data[:n]...)}
		data = data[n:]
		if len(data) > 0 {
			p.Status |= ssi.StatusContinuation
		}
		if err := e.send(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// send writes p until it is acknowledged: a NAK or silence brings a
// retransmission.
func (e *Engine) send(ctx context.Context, p ssi.Packet) error {
	for drained := false; !drained; { // answers to an earlier packet's copies
		select {
		case <-e.acks:
		default:
			drained = true
		}
	}
	for try := 0; ; try++ {
		if try > 0 {
			p.Status |= ssi.StatusRetransmit
		}
		frame, err := ssi.Encode(p)
		if err != nil {
			return err
		}
		if err := e.write(frame); err != nil {
			return fmt.Errorf("ssiengine: write: %w", err)
		}
		t := time.NewTimer(e.Retry)
		select {
		case ok := <-e.acks:
			t.Stop()
			if ok {
				return nil
			}
		case <-t.C:
		case <-e.done:
			t.Stop()
			return fmt.Errorf("ssiengine: %w", io.ErrClosedPipe)
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w after %d tries: %w", ErrNoAck, try+1, ctx.Err())
		}
	}
}

package ippusb_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/drivers/scanner/ippusb"
	"github.com/einwurf/einwurf/drivers/usb"
)

// stallPipe answers with a fixed response, stalling the first read, and
// counts ClearHalt calls. After the response it stays silent (timeouts).
type stallPipe struct {
	mu      sync.Mutex
	data    []byte
	stalled bool
	clears  int
	written int
}

func (p *stallPipe) ReadContext(ctx context.Context, b []byte) (int, error) {
	p.mu.Lock()
	if !p.stalled {
		p.stalled = true
		p.mu.Unlock()
		return 0, usb.ErrStall
	}
	if len(p.data) > 0 {
		n := copy(b, p.data)
		p.data = p.data[n:]
		p.mu.Unlock()
		return n, nil
	}
	p.mu.Unlock()
	<-ctx.Done()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return 0, usb.ErrTimeout
	}
	return 0, ctx.Err()
}

func (p *stallPipe) WriteContext(ctx context.Context, b []byte) (int, error) {
	p.mu.Lock()
	p.written += len(b)
	p.mu.Unlock()
	return len(b), nil
}

func (p *stallPipe) ClearHalt() error {
	p.mu.Lock()
	p.clears++
	p.mu.Unlock()
	return nil
}

func (p *stallPipe) Interface() usb.Interface { return usb.Interface{} }

type pipeDevice struct{ p usb.Pipe }

func (d pipeDevice) Desc() usb.Desc    { return usb.Desc{} }
func (d pipeDevice) Pipes() []usb.Pipe { return []usb.Pipe{d.p} }
func (d pipeDevice) Reset() error      { return nil }
func (d pipeDevice) Close() error      { return nil }

func TestStallIsCleared(t *testing.T) {
	p := &stallPipe{data: []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")}
	tr, err := ippusb.New(pipeDevice{p}, ippusb.WithTransferTimeout(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, 10*time.Second)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://localhost/eSCL/ScannerStatus", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || string(body) != "ok" {
		t.Fatalf("body %q, %v", body, err)
	}
	if p.clears != 1 || p.written == 0 {
		t.Errorf("ClearHalt called %d times, %d bytes written", p.clears, p.written)
	}
}

// TestSilentDevice: a device that never answers gives ErrIdle after the
// idle time-out, not a hang.
func TestSilentDevice(t *testing.T) {
	p := &stallPipe{stalled: true}
	tr, err := ippusb.New(pipeDevice{p}, ippusb.WithTransferTimeout(20*time.Millisecond), ippusb.WithIdleTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, 10*time.Second)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://localhost/eSCL/ScannerStatus", nil)
	if _, err := tr.RoundTrip(req); !errors.Is(err, ippusb.ErrIdle) {
		t.Fatalf("RoundTrip: %v, want ErrIdle", err)
	}
	// The interface went back to the pool: a second request gets it (and
	// the same silence) rather than waiting for an interface forever.
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, "http://localhost/eSCL/ScannerStatus", nil)
	if _, err := tr.RoundTrip(req); !errors.Is(err, ippusb.ErrIdle) || errors.Is(err, scanner.ErrUnplugged) {
		t.Fatalf("second RoundTrip: %v, want ErrIdle", err)
	}
	_ = tr.Close()
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, "http://localhost/eSCL/ScannerStatus", nil)
	if _, err := tr.RoundTrip(req); !errors.Is(err, ippusb.ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
}

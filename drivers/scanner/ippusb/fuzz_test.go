package ippusb_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/scanner/ippusb"
	"github.com/einwurf/einwurf/drivers/usb"
)

// scripted is a one-interface device whose bulk in plays back fixed bytes
// in small packets and then reports an I/O error (not a time-out, so a
// fuzz run does not wait).
type scripted struct {
	mu   sync.Mutex
	data []byte
}

var errDry = errors.New("scripted: no more data")

func (s *scripted) ReadContext(ctx context.Context, p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.data) == 0 {
		return 0, errDry
	}
	n := copy(p[:min(len(p), 61)], s.data)
	s.data = s.data[n:]
	return n, nil
}

func (s *scripted) WriteContext(ctx context.Context, p []byte) (int, error) { return len(p), nil }
func (s *scripted) ClearHalt() error                                        { return nil }
func (s *scripted) Interface() usb.Interface                                { return usb.Interface{} }

type scriptedDevice struct{ p *scripted }

func (d scriptedDevice) Desc() usb.Desc    { return usb.Desc{} }
func (d scriptedDevice) Pipes() []usb.Pipe { return []usb.Pipe{d.p} }
func (d scriptedDevice) Reset() error      { return nil }
func (d scriptedDevice) Close() error      { return nil }

// FuzzDeviceResponse feeds arbitrary device bytes to the transport as the
// answer to a request. Whatever comes, RoundTrip and the body must end
// without panic or hang, and the interface must go back to the pool: a
// second request must get it.
func FuzzDeviceResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nshort"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"))
	f.Add([]byte("garbage\r\n\r\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		pipe := &scripted{data: data}
		tr, err := ippusb.New(scriptedDevice{pipe}, ippusb.WithTransferTimeout(time.Millisecond), ippusb.WithIdleTimeout(50*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://localhost/eSCL/ScannerStatus", nil)
		resp, err := tr.RoundTrip(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			_ = resp.Body.Close()
		}
		pipe.mu.Lock()
		pipe.data = []byte("HTTP/1.1 204 No Content\r\n\r\n")
		pipe.mu.Unlock()
		req, _ = http.NewRequestWithContext(ctx, http.MethodGet, "http://localhost/eSCL/ScannerStatus", nil)
		_, err = tr.RoundTrip(req)
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("interface lost after %q: %v", data, err)
		}
	})
}

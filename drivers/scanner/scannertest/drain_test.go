package scannertest

import (
	"context"
	"errors"
	"io"
	"net/url"
	"testing"

	"github.com/einwurf/einwurf/drivers/scanner"
)

func TestDrain(t *testing.T) {
	ctx := context.Background()
	s := &Scanner{Pages: [][]byte{make([]byte, 100), make([]byte, 50), make([]byte, 7)}}
	j, err := s.Scan(ctx, scanner.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	pages, bytes, err := Drain(ctx, j, make([]byte, 16), func() { calls++ })
	if err != nil || pages != 3 || bytes != 157 || calls != 3 {
		t.Fatalf("Drain = %d pages, %d bytes, %d calls, %v", pages, bytes, calls, err)
	}
	s.FailErr, s.FailAt = scanner.ErrJam, 1
	j, _ = s.Scan(ctx, scanner.Settings{})
	pages, _, err = Drain(ctx, j, make([]byte, 16), nil)
	if !errors.Is(err, scanner.ErrJam) || pages != 1 {
		t.Fatalf("Drain with a jam = %d pages, %v", pages, err)
	}
}

// A connection dropped without an answer wraps io.EOF in a *url.Error;
// Drain must not take it for the end of the job.
func TestDrainTransportErrorIsNoEnd(t *testing.T) {
	ctx := context.Background()
	s := &Scanner{Pages: [][]byte{make([]byte, 10), make([]byte, 10)},
		FailErr: &url.Error{Op: "Get", URL: "http://127.0.0.1/eSCL/ScanJobs/1/NextDocument", Err: io.EOF}, FailAt: 1}
	j, _ := s.Scan(ctx, scanner.Settings{})
	pages, _, err := Drain(ctx, j, make([]byte, 16), nil)
	if err == nil || pages != 1 {
		t.Fatalf("Drain over a dropped connection = %d pages, %v", pages, err)
	}
}

package scannertest

import (
	"bytes"
	"context"
	"errors"
	"image/jpeg"
	"io"
	"testing"

	"github.com/einwurf/einwurf/drivers/scanner"
)

func TestDuplexPagesAndFault(t *testing.T) {
	s := &Scanner{Pages: [][]byte{Page(40, 60, false), Page(40, 60, true), Page(40, 60, false)}, FailErr: scanner.ErrJam, FailAt: 2}
	ctx := context.Background()
	j, err := s.Scan(ctx, scanner.Settings{Duplex: true, Resolution: 300})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		p, err := j.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if p.Sheet != 1 || p.Side != scanner.Side(i) || p.Resolution != 300 {
			t.Errorf("page %d: %+v", i, p)
		}
		data, _ := io.ReadAll(p.Body)
		if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := j.Next(ctx); !errors.Is(err, scanner.ErrJam) {
		t.Fatalf("third page: %v, want ErrJam", err)
	}
	_ = j.Close()
	if s.Jobs() != 1 || s.Canceled() != 0 || !s.LastSettings().Duplex {
		t.Errorf("jobs %d canceled %d", s.Jobs(), s.Canceled())
	}
}

func TestScanErrAndCancel(t *testing.T) {
	s := &Scanner{ScanErr: scanner.ErrFeederEmpty}
	if _, err := s.Scan(context.Background(), scanner.Settings{}); !errors.Is(err, scanner.ErrFeederEmpty) {
		t.Fatalf("Scan: %v", err)
	}
	s = &Scanner{Pages: [][]byte{Page(10, 10, true), Page(10, 10, true)}}
	j, _ := s.Scan(context.Background(), scanner.Settings{})
	if _, err := j.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	_ = j.Close()
	_ = j.Close()
	if s.Canceled() != 1 {
		t.Errorf("canceled %d, want 1", s.Canceled())
	}
	if _, err := j.Next(context.Background()); !errors.Is(err, scanner.ErrClosed) {
		t.Errorf("Next after Close: %v, want ErrClosed", err)
	}
}

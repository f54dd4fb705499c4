package scannertest

import (
	"context"
	"errors"
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

package wiegandtest

import (
	"context"
	"testing"
	"time"

	"github.com/einwurf/einwurf/board/sim"
	"github.com/einwurf/einwurf/drivers/barcode/wiegand"
)

// The frames made here are the ones the decoder reads: 26 and 34 bits,
// parity included; a number too large for the format is refused.
func TestPresentDecodes(t *testing.T) {
	b, err := sim.NewDefault()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	r, err := wiegand.Open(b, wiegand.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		f    wiegand.Format
		n    uint64
		want string
	}{{wiegand.Format26, 12345678, "12345678"}, {wiegand.Format26, 1, "00000001"}, {wiegand.Format34, 3000000123, "3000000123"}} {
		if err := Present(b, c.f.Bits, c.n); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s, err := r.Read(ctx)
		cancel()
		if err != nil || s.Data != c.want {
			t.Fatalf("%s %d: %q %v", c.f.Name, c.n, s.Data, err)
		}
	}
	if _, err := Bits(26, true, 1<<24); err == nil {
		t.Fatal("25-bit number in a 26-bit frame")
	}
	if st := r.Stats(); st.Good != 3 || st.Checksum != 0 {
		t.Fatalf("stats %+v", st)
	}
}

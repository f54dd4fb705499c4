package escpos

import (
	"errors"
	"testing"

	"github.com/einwurf/einwurf/drivers/printer"
)

var states = []printer.Status{
	{Online: true},
	{Online: true, PaperLow: true},
	{PaperOut: true},
	{CoverOpen: true},
	{},
}

func TestRealtimeRoundTrip(t *testing.T) {
	for _, s := range states {
		got, err := ParseRealtime(RealtimeAnswer(s))
		if err != nil {
			t.Fatalf("%+v: %v", s, err)
		}
		want := s
		if want.PaperOut {
			want.PaperLow = true // a printer with no paper is near its end as well
		}
		if got != want {
			t.Errorf("status %+v came back as %+v", s, got)
		}
	}
}

func TestPortStatus(t *testing.T) {
	want := map[printer.Status]error{
		{Online: true}:   nil,
		{PaperOut: true}: printer.ErrPaperOut,
		// The port status byte cannot tell a cover open from another
		// fault; the driver asks the real-time status for that.
		{CoverOpen: true}: printer.ErrOffline,
		{}:                printer.ErrOffline,
	}
	for s, e := range want {
		got, err := ParsePortStatus([]byte{PortStatus(s)})
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(got.Err(), e) {
			t.Errorf("%+v: port status %#02x gives %v, want %v", s, PortStatus(s), got.Err(), e)
		}
	}
	// Known answers (Linux usblp reads the same bits).
	for b, e := range map[byte]error{0x18: nil, 0x38: printer.ErrPaperOut, 0x10: printer.ErrOffline, 0x00: printer.ErrOffline} {
		s, err := ParsePortStatus([]byte{b})
		if err != nil || !errors.Is(s.Err(), e) {
			t.Errorf("port status %#02x: %+v %v, want %v", b, s, err, e)
		}
	}
}

func TestStatusMalformed(t *testing.T) {
	for _, b := range [][]byte{nil, {0x12}, {0x12, 0x12, 0x12, 0x12}, {0xff, 0x12, 0x12}, {0x12, 0x13, 0x12}} {
		if _, err := ParseRealtime(b); !errors.Is(err, ErrStatus) {
			t.Errorf("ParseRealtime(%x) = %v", b, err)
		}
	}
	for _, b := range [][]byte{nil, {0x18, 0}, {0x01}, {0x80}} {
		if _, err := ParsePortStatus(b); !errors.Is(err, ErrStatus) {
			t.Errorf("ParsePortStatus(%x) = %v", b, err)
		}
	}
}

func FuzzParseStatus(f *testing.F) {
	for _, s := range states {
		f.Add(RealtimeAnswer(s))
		f.Add([]byte{PortStatus(s)})
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, parse := range []func([]byte) (printer.Status, error){ParseRealtime, ParsePortStatus} {
			s, err := parse(b)
			if err != nil {
				if !errors.Is(err, ErrStatus) || s != (printer.Status{}) {
					t.Fatalf("%x: %+v, %v", b, s, err)
				}
				continue
			}
			// A printer that reports a fault is never ready.
			if (s.PaperOut || s.CoverOpen) && s.Online {
				t.Fatalf("%x: %+v online with a fault", b, s)
			}
		}
	})
}

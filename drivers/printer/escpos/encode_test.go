package escpos

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/printer"
)

func TestProfiles(t *testing.T) {
	m, err := Profiles()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m["80mm"]; !ok || DefaultProfile().Dots != 576 {
		t.Fatalf("profiles %+v", m)
	}
}

// No field can put a command on the wire: an ESC in the office name or a
// cut in the team comes out as '?'.
func TestEncodeCleansFields(t *testing.T) {
	r := printer.Receipt{Office: "Job\x1bicenter", Team: "A\x1dV\x01", Time: time.Unix(1e9, 0), Pages: 1, Code: "X\x10\x04\x01"}
	b, err := Encode(r, DefaultProfile())
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]byte{{0x1b, 'i'}, {0x1d, 'V', 1, 0x0a}, {0x10, 0x04}} {
		if bytes.Contains(b, bad) {
			t.Errorf("encoded receipt carries %x", bad)
		}
	}
	if !bytes.Contains(b, []byte("Job?icenter")) {
		t.Error("office name missing")
	}
	if !bytes.HasSuffix(b, []byte{0x1d, 'V', 1}) || bytes.Count(b, []byte{0x1d, 'V'}) != 1 {
		t.Error("receipt must end in its one cut")
	}
}

func TestEncodeRejects(t *testing.T) {
	good := printer.Receipt{Time: time.Unix(1e9, 0), Pages: 1, Code: "C"}
	for name, r := range map[string]printer.Receipt{
		"no time":  {Pages: 1, Code: "C"},
		"no pages": {Time: time.Unix(1e9, 0), Code: "C"},
		"no code":  {Time: time.Unix(1e9, 0), Pages: 1},
	} {
		if _, err := Encode(r, DefaultProfile()); !errors.Is(err, printer.ErrReceipt) {
			t.Errorf("%s: %v", name, err)
		}
	}
	big := good
	big.QR = string(bytes.Repeat([]byte("A"), 2000))
	if _, err := Encode(big, Profile{Dots: 384, Columns: 32, QRModule: 3, CodePages: []CodePage{{19, "cp858"}}}); !errors.Is(err, printer.ErrReceipt) {
		t.Errorf("QR wider than the paper: %v", err)
	}
}

// The receipt shows the local date of submission: 23:30 UTC on 31 December
// is already the new year in Berlin.
func TestEncodeLocalTime(t *testing.T) {
	r := printer.Receipt{Time: time.Date(2026, 12, 31, 23, 30, 0, 0, time.UTC), Pages: 1, Code: "C"}
	b, err := Encode(r, DefaultProfile())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("01.01.2027 00:30 Uhr")) {
		t.Fatal("time not printed in Europe/Berlin")
	}
}

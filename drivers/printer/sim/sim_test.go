package sim_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/printer"
	"github.com/einwurf/einwurf/drivers/printer/escpos"
	"github.com/einwurf/einwurf/drivers/printer/printertest"
	"github.com/einwurf/einwurf/drivers/printer/sim"
	"github.com/einwurf/einwurf/internal/testtool"
	"github.com/einwurf/einwurf/wire"
)

func receipt(t *testing.T) (printer.Receipt, string) {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(nil)
	st := wire.Statement{KioskID: "kiosk-berlin-03", PacketID: "3f2a9c0d4e5b6a7f8091a2b3c4d5e6f7",
		Accepted: time.Date(2026, 12, 1, 9, 41, 7, 0, time.UTC), Pages: 12, PDF: sha256.Sum256([]byte("pdf")), Code: "3F2A-9C0D-4E5B"}
	text, err := st.Sign(key)
	if err != nil {
		t.Fatal(err)
	}
	return printer.Receipt{Office: "Jobcenter Musterstadt", Kiosk: "Eingangshalle, Kiosk 3", Time: st.Accepted,
		Masked: "035F****61", Team: "Arbeitsvermittlung", Pages: 12, Code: st.Code, QR: text}, text
}

func TestPrintRendersReceipt(t *testing.T) {
	p, err := sim.New(escpos.DefaultProfile())
	if err != nil {
		t.Fatal(err)
	}
	r, text := receipt(t)
	if err := p.Print(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	rs := p.Receipts()
	if len(rs) != 1 {
		t.Fatalf("%d receipts cut, want 1", len(rs))
	}
	b := rs[0].Bounds()
	if b.Dx() != 576 || b.Dy() < 600 {
		t.Fatalf("receipt is %v", b)
	}
	if ink := inked(rs[0]); ink < 0.03 || ink > 0.5 {
		t.Fatalf("%.1f%% of the receipt is black", 100*ink)
	}
	saveAndReadQR(t, p, "receipt.png", text)
}

// saveAndReadQR writes the first receipt as a screenshot named name and
// checks that zbarimg reads want from its QR code; it returns the file.
func saveAndReadQR(t *testing.T, p *sim.Printer, name, want string) string {
	t.Helper()
	png, err := p.PNG(0)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(testtool.ShotDir(t, "printer-sim"), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(testtool.NeedTool(t, "zbarimg"), "-q", "--raw", "-Sdisable", "-Sqrcode.enable", path).Output()
	if err != nil {
		t.Fatalf("zbarimg found no QR code in %s: %v", path, err)
	}
	if got := strings.TrimSpace(string(out)); got != want {
		t.Fatalf("QR holds %q, want %q", got, want)
	}
	return path
}

func TestNotReady(t *testing.T) {
	p, err := sim.New(escpos.DefaultProfile())
	if err != nil {
		t.Fatal(err)
	}
	r, _ := receipt(t)
	printertest.CheckFaults(t, p, p.SetStatus, r)
	if n := len(p.Receipts()); n != 0 {
		t.Fatalf("%d receipts printed while not ready", n)
	}
	// A stopped printer drops what it is sent and answers status requests.
	b, _ := escpos.Encode(r, escpos.DefaultProfile())
	p.SetStatus(printer.Status{PaperOut: true})
	p.Write(append(escpos.RealtimeQuery(), b...))
	ans := make([]byte, 8)
	n, _ := p.Read(ans)
	st, err := escpos.ParseRealtime(ans[:n])
	if err != nil || !st.PaperOut {
		t.Fatalf("real-time answer %x: %+v %v", ans[:n], st, err)
	}
	if p.Dropped() != len(b) || len(p.Receipts()) != 0 {
		t.Fatalf("dropped %d of %d bytes, %d receipts", p.Dropped(), len(b), len(p.Receipts()))
	}
}

// Bytes split anywhere between writes print the same receipt.
func TestSplitWrites(t *testing.T) {
	r, _ := receipt(t)
	b, err := escpos.Encode(r, escpos.DefaultProfile())
	if err != nil {
		t.Fatal(err)
	}
	whole, _ := sim.New(escpos.DefaultProfile())
	whole.Write(b)
	split, _ := sim.New(escpos.DefaultProfile())
	for i := 0; i < len(b); i += 7 {
		split.Write(b[i:min(i+7, len(b))])
	}
	if whole.Err() != nil || split.Err() != nil {
		t.Fatal(whole.Err(), split.Err())
	}
	a, c := whole.Receipts()[0].(*image.Gray), split.Receipts()[0].(*image.Gray)
	if a.Bounds() != c.Bounds() || string(a.Pix) != string(c.Pix) {
		t.Fatal("split writes print differently")
	}
}

func TestUnknownCommand(t *testing.T) {
	p, _ := sim.New(escpos.DefaultProfile())
	p.Write([]byte{0x1b, 'Q', 0})
	if !errors.Is(p.Err(), sim.ErrCommand) {
		t.Fatalf("Err = %v", p.Err())
	}
}

func inked(img image.Image) float64 {
	g := img.(*image.Gray)
	n := 0
	for _, v := range g.Pix {
		if v < 128 {
			n++
		}
	}
	return float64(n) / float64(len(g.Pix))
}

// Labels in Turkish and Ukrainian print in the printer's own tables (the
// encoder switches code pages), not as question marks.
func TestOtherScripts(t *testing.T) {
	p, err := sim.New(escpos.DefaultProfile())
	if err != nil {
		t.Fatal(err)
	}
	r, _ := receipt(t)
	r.Labels = printer.Labels{Title: "Alındı belgesi – Квитанція", Pages: "Sayfa sayısı", Code: "Код квитанції", Team: "Команда"}
	if err := p.Print(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
	txt := p.Text()
	for _, want := range []string{"Alındı belgesi", "Квитанція", "Sayfa sayısı", "Код квитанції", "Eingegangen am"} {
		if !strings.Contains(txt, want) {
			t.Errorf("printed text lacks %q:\n%s", want, txt)
		}
	}
	png, _ := p.PNG(0)
	os.WriteFile(filepath.Join(testtool.ShotDir(t, "printer-sim"), "receipt-tr-uk.png"), png, 0o644)
}

// Whatever bytes the printer is sent, it neither panics nor grows without
// bound; what it cannot read is an ErrCommand.
func FuzzWrite(f *testing.F) {
	r := printer.Receipt{Time: time.Unix(1e9, 0), Pages: 1, Code: "C", QR: "EW1:X"}
	b, _ := escpos.Encode(r, escpos.DefaultProfile())
	f.Add(b)
	f.Add([]byte{0x1d, 'v', '0', 0, 1, 0, 1, 0, 0xff, 0x1d, 'V', 1})
	f.Add([]byte{0x10, 0x04, 0x02, 0x1b, 't', 46, 0xc0, 0x0a})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := sim.New(escpos.DefaultProfile())
		if err != nil {
			t.Fatal(err)
		}
		p.Write(data)
		if err := p.Err(); err != nil && !errors.Is(err, sim.ErrCommand) {
			t.Fatalf("error %v", err)
		}
		for _, img := range p.Receipts() {
			if img.Bounds().Dy() > 20000 || img.Bounds().Dx() != 576 {
				t.Fatalf("receipt %v", img.Bounds())
			}
		}
		ans := make([]byte, 1024)
		if n, _ := p.Read(ans); n > len(data) {
			t.Fatalf("%d answers to %d bytes", n, len(data))
		}
	})
}

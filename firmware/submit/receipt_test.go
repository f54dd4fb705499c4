package submit_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/printer"
	"github.com/einwurf/einwurf/drivers/printer/escpos"
	"github.com/einwurf/einwurf/drivers/printer/sim"
	"github.com/einwurf/einwurf/drivers/usb/usbtest"
	"github.com/einwurf/einwurf/firmware/spool"
	"github.com/einwurf/einwurf/firmware/submit"
	"github.com/einwurf/einwurf/internal/testtool"
	"github.com/einwurf/einwurf/kiosk/ident"
	"github.com/einwurf/einwurf/kiosk/session"
	"github.com/einwurf/einwurf/wire"
)

// The whole proof of submission: the kiosk seals a document and signs the
// statement, the ESC/POS driver prints the receipt over (fake) USB to the
// simulated printer, zbarimg reads the QR code off the printed raster, and
// the central's own command verifies it against the enrolled kiosk key and
// the PDF.
func TestReceiptProvesSubmission(t *testing.T) {
	zbarimg := testtool.NeedTool(t, "zbarimg")
	goTool := testtool.NeedTool(t, "go")
	dir := t.TempDir()
	central := filepath.Join(dir, "einwurf-central")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, goTool, "build", "-o", central, "github.com/einwurf/einwurf/central/cmd/einwurf-central").CombinedOutput(); err != nil {
		t.Fatalf("build einwurf-central: %v\n%s", err, out)
	}
	cmd := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, central, args...).CombinedOutput()
		return string(out), err
	}
	keys := filepath.Join(dir, "keys")
	if out, err := cmd("keygen", "-keys", keys); err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	pubJSON, err := os.ReadFile(filepath.Join(keys, "central.pub.json"))
	if err != nil {
		t.Fatal(err)
	}
	ck, err := wire.ParseCentralKeys(pubJSON)
	if err != nil {
		t.Fatal(err)
	}
	recipient, _ := ck.Recipient()
	kioskPub, kioskKey, _ := ed25519.GenerateKey(nil)
	if out, err := cmd("enrol", "-keys", keys, "-kiosk", "kiosk-3", "-pub", base64.StdEncoding.EncodeToString(kioskPub)); err != nil {
		t.Fatalf("enrol: %v\n%s", err, out)
	}

	sp, err := spool.Open(filepath.Join(dir, "spool"), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pdfBytes := []byte("%PDF-1.7\n% a document of seven pages\n%%EOF\n")
	pdf := filepath.Join(dir, "document.pdf")
	os.WriteFile(pdf, pdfBytes, 0o600)
	n, _ := ident.Parse("035F083761")
	sealer := &submit.Sealer{KioskID: "kiosk-3", Key: kioskKey, Recipient: recipient, Spool: sp,
		Now: func() time.Time { return time.Date(2026, 12, 1, 9, 41, 7, 500e6, time.UTC) }}
	rc, err := sealer.Submit(ctx, session.Document{Number: n, PDF: pdf, Pages: 7, Size: int64(len(pdfBytes)),
		SHA256: sha256.Sum256(pdfBytes), Scanned: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if rc.Statement == "" || rc.Pages != 7 || strings.Contains(rc.Masked, "0837") {
		t.Fatalf("receipt %+v", rc)
	}

	p, err := sim.New(escpos.DefaultProfile())
	if err != nil {
		t.Fatal(err)
	}
	host := usbtest.NewHost()
	host.Plug(sim.NewUSBDevice(p))
	usbPrinter := escpos.NewUSB(host)
	defer usbPrinter.Close()
	if err := usbPrinter.Print(ctx, submit.PrintedReceipt(rc, "Jobcenter Musterstadt", "Eingangshalle, Kiosk 3", "Arbeitsvermittlung", printer.Labels{})); err != nil {
		t.Fatal(err)
	}
	png, err := p.PNG(0)
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(testtool.ShotDir(t, "receipt"), "receipt.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, zbarimg, "-q", "--raw", "-Sdisable", "-Sqrcode.enable", shot).Output()
	if err != nil {
		t.Fatalf("zbarimg: no QR code in %s: %v", shot, err)
	}
	qr := strings.TrimSpace(string(out))
	if qr != rc.Statement {
		t.Fatalf("QR holds %q, want the statement %q", qr, rc.Statement)
	}

	res, err := cmd("verify", "-keys", keys, "-pdf", pdf, qr)
	if err != nil {
		t.Fatalf("verify: %v\n%s", err, res)
	}
	for _, want := range []string{"valid: signed by kiosk kiosk-3", rc.PacketID, "2026-12-01T09:41:07Z", "pages:    7", rc.Number} {
		if !strings.Contains(res, want) {
			t.Errorf("verify output lacks %q:\n%s", want, res)
		}
	}
	// A statement with one character changed does not verify.
	i := len(qr) / 2
	c := byte('0')
	if qr[i] == c {
		c = '1'
	}
	if res, err := cmd("verify", "-keys", keys, qr[:i]+string(c)+qr[i+1:]); err == nil || !strings.Contains(res, "NOT valid") {
		t.Fatalf("a changed statement verified:\n%s", res)
	}
}

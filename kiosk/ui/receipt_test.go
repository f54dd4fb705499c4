package ui

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/printer/escpos"
	printersim "github.com/einwurf/einwurf/drivers/printer/sim"
	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/drivers/scanner/escl"
	"github.com/einwurf/einwurf/drivers/scanner/sim"
	"github.com/einwurf/einwurf/kiosk/document"
	"github.com/einwurf/einwurf/kiosk/session"
)

// The paper receipt speaks the customer's language where the printer can
// print it (Arabic drawn with a font), German otherwise.
func TestReceiptInTheCustomersLanguage(t *testing.T) {
	srv, err := sim.Start(sim.Options{Sheets: 3, Duplex: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	font, fontErr := escpos.SystemFont()
	for _, c := range []struct {
		lang, want string
		font       bool
	}{
		{"uk", "Код квитанції", false}, {"tr", "Teslim alındı belgesi", false}, {"en", "Receipt code", false},
		{"de-x-ls", "Bestätigung: Papiere abgegeben", false}, {"ar", "Quittungscode", false},
		// With the board's font Arabic is drawn (as images, not text).
		{"ar", "", true},
	} {
		prof := escpos.DefaultProfile()
		if c.font {
			if fontErr != nil {
				t.Logf("no font: %v", fontErr)
				continue
			}
			prof.Font = font
		}
		prn, err := printersim.New(prof)
		if err != nil {
			t.Fatal(err)
		}
		k, err := session.New(session.Config{Scanner: escl.New(&http.Client{}, srv.URL()), Submitter: &submitter{},
			Printer: prn, Labels: ReceiptLabels, WorkDir: filepath.Join(t.TempDir(), "visits"),
			Settings: scanner.Settings{Source: scanner.SourceFeeder, Duplex: true, Resolution: 150, ColorMode: scanner.ColorGrayscale8, Format: scanner.FormatJPEG},
			Document: document.DefaultOptions()})
		if err != nil {
			t.Fatal(err)
		}
		srv.Load(1)
		k.Identify("035F083761")
		k.SetLanguage(c.lang)
		if err := k.Scan(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := k.Confirm(context.Background()); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			changed := k.Changes()
			if v := k.View(); v.Printed && !v.Printing {
				break
			} else if time.Now().After(deadline) || v.PrintErrorKey != "" {
				t.Fatalf("%s: not printed: %+v", c.lang, v)
			}
			select {
			case <-changed:
			case <-time.After(time.Second):
			}
		}
		text := prn.Text()
		if c.font {
			if strings.Contains(text, "Quittungscode") || strings.Contains(text, "?") || !strings.Contains(text, "ABCD-1234-EF56") {
				t.Errorf("%s with a font: printed text %q", c.lang, text)
			}
			continue
		}
		if !strings.Contains(text, c.want) || !strings.Contains(text, "035F****61") {
			t.Errorf("%s: printed %q, want %q", c.lang, text, c.want)
		}
	}
}

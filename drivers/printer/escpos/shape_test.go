package escpos

import (
	"bytes"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/printer"
	"github.com/einwurf/einwurf/internal/testtool"
)

func TestArabicTable(t *testing.T) {
	if arabicErr != nil {
		t.Fatal(arabicErr)
	}
	for _, bad := range []string{`{"letters": {"0628": ["FE8F", "FE90", "FE91"]}}`, `{"letters": {"x": ["FE8F"]}}`,
		`{"lam_alef": {"0627": ["FEFB"]}}`, `{"transparent": [["0652", "064B"]]}`, `[`} {
		if _, err := parseShaping([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func TestShape(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		// beh yeh teh: initial, medial, final
		{"\u0628\u064a\u062a", "\ufe91\ufef4\ufe96"},
		// alef does not join to the next: daal after it is isolated
		{"\u0627\u062f", "\ufe8d\ufea9"},
		// lam alef is one ligature; after a joining letter its final form
		{"\u0644\u0627", "\ufefb"}, {"\u0633\u0644\u0627", "\ufeb3\ufefc"},
		// a mark between letters does not break the join
		{"\u0628\u064e\u062a", "\ufe91\u064e\ufe96"},
		// Latin passes unchanged
		{"QR 12", "QR 12"},
	} {
		if got := arabic.shape(c.in); got != c.want {
			t.Errorf("shape(%+q) = %+q, want %+q", c.in, got, c.want)
		}
	}
}

func TestVisual(t *testing.T) {
	// An Arabic word is drawn right to left: its last letter leftmost.
	v, rtl := Visual("\u0628\u064a\u062a")
	if !rtl || v != "\ufe96\ufef4\ufe91" {
		t.Fatalf("Visual = %+q %v", v, rtl)
	}
	// Latin and digits inside Arabic keep their own order.
	v, rtl = Visual("\u0631\u0645\u0632 QR 12")
	if !rtl || v != "QR 12 \ufeb0\ufee3\ufead" {
		t.Fatalf("Visual = %+q %v", v, rtl)
	}
	if v, rtl := Visual("Seiten 12"); rtl || v != "Seiten 12" {
		t.Fatalf("Visual(Latin) = %q %v", v, rtl)
	}
}

// Without a font, labels the printer's tables cannot carry give way to
// German: a receipt of question marks helps nobody.
func TestNoFontPrintsGerman(t *testing.T) {
	r := printer.Receipt{Time: time.Unix(1e9, 0), Pages: 2, Code: "AB-12", Masked: "035F****61",
		Labels: printer.Labels{Title: "إشعار استلام", Pages: "الصفحات", Code: "رمز الإيصال"}}
	b, err := Encode(r, DefaultProfile())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("??")) || !bytes.Contains(b, []byte("Quittungscode")) || bytes.Contains(b, []byte{gs, 'v', '0'}) {
		t.Fatalf("encoded %q", b)
	}
	// With a font the same receipt has no German and draws images.
	f, err := SystemFont()
	if err != nil {
		testtool.SkipOrFail(t, "no font for non-Latin receipts (fonts-dejavu-core): %v", err)
	}
	p := DefaultProfile()
	p.Font = f
	b, err = Encode(r, p)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("Quittungscode")) || !bytes.Contains(b, []byte{gs, 'v', '0'}) || !f.Has(r.Labels.Title) {
		t.Fatal("the Arabic receipt was not drawn")
	}
}

// Any script the tables lack is drawn, not only Arabic: a Greek title
// becomes an image, the Latin lines stay text.
func TestOtherScriptDrawn(t *testing.T) {
	f, err := SystemFont()
	if err != nil {
		testtool.SkipOrFail(t, "no font for non-Latin receipts (fonts-dejavu-core): %v", err)
	}
	p := DefaultProfile()
	p.Font = f
	r := printer.Receipt{Time: time.Unix(1e9, 0), Pages: 1, Code: "AB-12", Labels: printer.Labels{Title: "Απόδειξη παραλαβής"}}
	b, err := Encode(r, p)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(b, []byte{gs, 'v', '0'}) != 1 || !bytes.Contains(b, []byte("AB-12")) {
		t.Fatalf("encoded %q", b)
	}
	// A script the font lacks too (DejaVu Sans has no Chinese): German.
	r.Labels = printer.Labels{Title: "收据"}
	if b, err = Encode(r, p); err != nil || !bytes.Contains(b, []byte("Eingangsbest")) || bytes.Contains(b, []byte{gs, 'v', '0'}) {
		t.Fatalf("a script the font lacks: %v %q", err, b)
	}
	if v, rtl := Visual("Απόδειξη"); rtl || v != "Απόδειξη" {
		t.Fatalf("Greek visual %q %v", v, rtl)
	}
}

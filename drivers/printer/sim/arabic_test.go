package sim_test

import (
	"context"
	"image"
	"os/exec"
	"strings"
	"testing"

	"github.com/einwurf/einwurf/drivers/printer"
	"github.com/einwurf/einwurf/drivers/printer/escpos"
	"github.com/einwurf/einwurf/drivers/printer/sim"
	"github.com/einwurf/einwurf/internal/testtool"
)

// arabicLabels are the Arabic receipt's labels (kiosk/ui's catalogue).
var arabicLabels = printer.Labels{Title: "إشعار استلام", Time: "تاريخ الاستلام", Number: "الرقم", Team: "الفريق",
	Pages: "الصفحات", Code: "رمز الإيصال", Footer: "يثبت رمز QR تاريخ ووقت التقديم."}

// An Arabic receipt is drawn, shaped and right to left, with the kiosk's
// font (fonts-dejavu-core): no question marks; tesseract (Arabic) reads
// the labels back from the printed raster; the label of a line stands on
// its right, the value on its left; the QR code still decodes.
func TestArabicReceipt(t *testing.T) {
	font, err := escpos.SystemFont()
	if err != nil {
		testtool.SkipOrFail(t, "%v", err)
	}
	prof := escpos.DefaultProfile()
	prof.Font = font
	p, err := sim.New(prof)
	if err != nil {
		t.Fatal(err)
	}
	r, statement := receipt(t)
	r.Labels = arabicLabels
	if err := p.Print(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
	// What went as text is all Latin; nothing became '?'.
	if txt := p.Text(); strings.Contains(txt, "?") || !strings.Contains(txt, r.Code) {
		t.Fatalf("printed text:\n%s", txt)
	}
	file := saveAndReadQR(t, p, "receipt-ar.png", statement)
	t.Logf("receipt: %s", file)

	// The number's line: the value (Latin) on the left half, the label
	// (Arabic) on the right half.
	img := p.Receipts()[0].(*image.Gray)
	row := numberLine(t, img)
	left, right := ink(img, row, 0, 288), ink(img, row, 288, 576)
	if left == 0 || right == 0 {
		t.Fatalf("number line: ink %d left, %d right", left, right)
	}

	tess := testtool.NeedTool(t, "tesseract")
	got, err := exec.Command(tess, file, "-", "-l", "ara", "--psm", "4").Output()
	if err != nil {
		testtool.SkipOrFail(t, "tesseract with Arabic (tesseract-ocr-ara): %v", err)
	}
	read := string(got)
	t.Logf("tesseract reads:\n%s", read)
	for _, want := range []string{"الرقم", "الصفحات", "الإيصال"} {
		if !strings.Contains(read, want) {
			t.Errorf("tesseract does not read %q", want)
		}
	}
}

// numberLine finds the rows of the number's line: of the bands of ink
// separated by blank rows, the pair lines have ink at both ends of the
// paper and none in the middle (time, number, team, pages, in that order).
func numberLine(t *testing.T, img *image.Gray) image.Rectangle {
	t.Helper()
	var bands []image.Rectangle
	in := false
	for y := range img.Bounds().Dy() {
		has := ink(img, image.Rect(0, y, 576, y+1), 0, 576) > 0
		switch {
		case has && !in:
			bands = append(bands, image.Rect(0, y, 576, y+1))
			in = true
		case has:
			bands[len(bands)-1].Max.Y = y + 1
		default:
			in = false
		}
	}
	var pairs []image.Rectangle
	for _, b := range bands {
		if ink(img, b, 0, 60) > 0 && ink(img, b, 516, 576) > 0 && ink(img, b, 250, 330) == 0 {
			pairs = append(pairs, b)
		}
	}
	if len(pairs) < 2 {
		t.Fatalf("found %d pair lines in %d bands", len(pairs), len(bands))
	}
	return pairs[1]
}

// ink counts black dots of rows r between x0 and x1.
func ink(img *image.Gray, r image.Rectangle, x0, x1 int) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := x0; x < x1; x++ {
			if img.Pix[y*img.Stride+x] < 128 {
				n++
			}
		}
	}
	return n
}

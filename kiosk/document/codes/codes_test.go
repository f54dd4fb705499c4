package codes

import (
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/einwurf/einwurf/kiosk/document/internal/testpage"
)

func has(cs []Code, sym, text string) bool {
	for _, c := range cs {
		if c.Symbology == sym && c.Text == text {
			return true
		}
	}
	return false
}

func TestDetectOnLetters(t *testing.T) {
	cases := []struct {
		dpi     int
		code    string
		with128 bool
	}{
		{300, "035F083761", true},
		{300, "03510//0961289", false},
		{200, "03510BG0961289", true},
		{150, "035F083761", false},
	}
	for i, c := range cases {
		g, err := testpage.Letter(c.dpi, c.code, c.with128, uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Detect(context.Background(), g, c.dpi)
		if err != nil {
			t.Fatal(err)
		}
		if !has(got, DataMatrix, c.code) {
			t.Errorf("%d dpi %q: Data Matrix not found, got %v", c.dpi, c.code, got)
		}
		if c.with128 && !has(got, Code128, c.code) {
			t.Errorf("%d dpi %q: Code 128 not found, got %v", c.dpi, c.code, got)
		}
		if want := 1 + map[bool]int{true: 1}[c.with128]; len(got) != want {
			t.Errorf("%d dpi %q: found %d codes %v, want %d", c.dpi, c.code, len(got), got, want)
		}
	}
}

func TestDetectCodeAnywhere(t *testing.T) {
	// Codes are not always top right: try each corner and the middle.
	w, h := testpage.A4(300)
	for i, p := range []image.Point{{100, 100}, {w - 300, h - 300}, {100, h - 300}, {w / 2, h / 2}} {
		g := testpage.Paper(300, uint64(i))
		testpage.Text(g, 300, uint64(i), 40)
		if err := testpage.DataMatrix(g, "035F083761", p.X, p.Y, 6); err != nil {
			t.Fatal(err)
		}
		got, err := Detect(context.Background(), g, 300)
		if err != nil {
			t.Fatal(err)
		}
		if !has(got, DataMatrix, "035F083761") {
			t.Errorf("code at %v not found: %v", p, got)
		}
	}
}

func TestDetectNothingOnTextOrBlank(t *testing.T) {
	g := testpage.Paper(300, 7)
	testpage.Text(g, 300, 7, 50)
	got, err := Detect(context.Background(), g, 300)
	if err != nil || len(got) != 0 {
		t.Errorf("text page: %v, %v; want no codes", got, err)
	}
	got, err = Detect(context.Background(), testpage.BlankBack(300, 8), 300)
	if err != nil || len(got) != 0 {
		t.Errorf("blank page: %v, %v; want no codes", got, err)
	}
}

func TestDetectBadInput(t *testing.T) {
	for _, tc := range []struct {
		g   *image.Gray
		dpi int
	}{{nil, 300}, {image.NewGray(image.Rect(0, 0, 4, 4)), 300}, {image.NewGray(image.Rect(0, 0, 100, 100)), 0}, {image.NewGray(image.Rect(0, 0, 100, 100)), 99999}} {
		if _, err := Detect(context.Background(), tc.g, tc.dpi); err != ErrBadImage {
			t.Errorf("Detect(%v, %d) = %v, want ErrBadImage", tc.g != nil, tc.dpi, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	g, _ := testpage.Letter(300, "035F083761", false, 1)
	if _, err := Detect(ctx, g, 300); err != context.Canceled {
		t.Errorf("cancelled: %v", err)
	}
}

// dmtxread runs libdmtx's reader on g, stopping after the first code. It
// shrinks the page by two as Detect does (and it is several times faster
// so); without a time limit of its own, so "nothing found" is a finished
// scan, not a timeout.
func dmtxread(t testing.TB, g *image.Gray) (string, time.Duration) {
	t.Helper()
	bin := testpage.NeedTool(t, "dmtxread")
	p := filepath.Join(t.TempDir(), "page.png")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, g); err != nil {
		t.Fatal(err)
	}
	f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, bin, "-N1", "-S2", p).Output()
	d := time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("dmtxread did not finish in time")
	}
	if err != nil && len(out) == 0 {
		return "", d // exit status 1: no code found
	}
	return strings.TrimSpace(string(out)), d
}

// TestAgreesWithDmtxread checks detection against libdmtx on the same
// pages (two letters, one of them also askew): both must read the same
// Data Matrix texts. (A blank page is left out: dmtxread needs most of a
// minute to finish one; TestDetectNothingOnTextOrBlank covers it.)
func TestAgreesWithDmtxread(t *testing.T) {
	testpage.NeedTool(t, "dmtxread")
	a, err := testpage.Letter(300, "035F083761", false, 10)
	if err != nil {
		t.Fatal(err)
	}
	b, err := testpage.Letter(300, "03510//0961289", false, 11)
	if err != nil {
		t.Fatal(err)
	}
	pages := []struct {
		g    *image.Gray
		want string
	}{{a, "035F083761"}, {b, "03510//0961289"}, {testpage.Rotate(b, 3), "03510//0961289"}}
	for i, p := range pages {
		ref, d := dmtxread(t, p.g)
		t.Logf("page %d: dmtxread took %v", i, d)
		got, err := Detect(context.Background(), p.g, 300)
		if err != nil {
			t.Fatal(err)
		}
		var ours string
		for _, c := range got {
			if c.Symbology == DataMatrix {
				ours = c.Text
			}
		}
		if ref != p.want || ours != p.want {
			t.Errorf("page %d: dmtxread %q, Detect %q, want %q", i, ref, ours, p.want)
		}
	}
}

func BenchmarkDetect(b *testing.B) {
	g, err := testpage.Letter(300, "035F083761", true, 1)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		cs, err := Detect(context.Background(), g, 300)
		if err != nil || len(cs) != 2 {
			b.Fatalf("%v %v", cs, err)
		}
	}
	ms := b.Elapsed().Seconds() * 1000 / float64(b.N)
	b.ReportMetric(ms, "ms/page")
	_, dt := dmtxread(b, g)
	b.ReportMetric(float64(dt.Milliseconds()), "dmtxread-ms/page")
	b.ReportMetric(dt.Seconds()*1000/ms, "dmtxread/ours")
}

// TestDetectOnTurnedPages: sheets come in askew or upside down.
func TestDetectOnTurnedPages(t *testing.T) {
	g, err := testpage.Letter(300, "035F083761", true, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, deg := range []float64{180, 2.5, -4} {
		got, err := Detect(context.Background(), testpage.Rotate(g, deg), 300)
		if err != nil {
			t.Fatal(err)
		}
		if !has(got, DataMatrix, "035F083761") {
			t.Errorf("turned %.1f°: Data Matrix not found: %v", deg, got)
		}
		if !has(got, Code128, "035F083761") {
			t.Errorf("turned %.1f°: Code 128 not found: %v", deg, got)
		}
	}
}

package blank

import (
	"image"
	"testing"

	"github.com/einwurf/einwurf/kiosk/document/internal/testpage"
)

func TestBlankBacksAreBlank(t *testing.T) {
	for _, dpi := range []int{150, 200, 300} {
		for seed := uint64(1); seed <= 3; seed++ {
			r, err := Analyse(testpage.BlankBack(dpi, seed), dpi, DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			if !r.Blank {
				t.Errorf("%d dpi seed %d: blank back judged not blank (ink %.5f)", dpi, seed, r.Ink)
			}
		}
	}
}

func TestPagesWithContentAreNotBlank(t *testing.T) {
	for _, dpi := range []int{150, 300} {
		letter, err := testpage.Letter(dpi, "035F083761", false, 4)
		if err != nil {
			t.Fatal(err)
		}
		// One short line of text on an otherwise blank back (a note, a
		// signature) must keep the page.
		oneLine := testpage.BlankBack(dpi, 5)
		testpage.Text(oneLine, dpi, 5, 1)
		// Only a code, nothing else.
		code := testpage.Paper(dpi, 6)
		if err := testpage.DataMatrix(code, "035F083761", dpi, dpi, max(2, dpi/50)); err != nil {
			t.Fatal(err)
		}
		for name, g := range map[string]*image.Gray{"letter": letter, "one line": oneLine, "code only": code} {
			r, err := Analyse(g, dpi, DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			if r.Blank {
				t.Errorf("%d dpi %s judged blank (ink %.5f)", dpi, name, r.Ink)
			}
		}
	}
}

func TestThresholdZeroDisables(t *testing.T) {
	opt := DefaultOptions()
	opt.Threshold = 0
	r, err := Analyse(testpage.Paper(150, 1), 150, opt)
	if err != nil || r.Blank {
		t.Errorf("threshold 0: %+v %v, want not blank", r, err)
	}
	// and a high threshold makes a page with a line blank
	g := testpage.BlankBack(150, 5)
	testpage.Text(g, 150, 5, 1)
	opt.Threshold = 0.5
	if r, _ := Analyse(g, 150, opt); !r.Blank {
		t.Errorf("threshold 0.5: one line not blank (ink %.5f)", r.Ink)
	}
}

func TestBadInput(t *testing.T) {
	ok := image.NewGray(image.Rect(0, 0, 300, 300))
	bad := []struct {
		g   *image.Gray
		dpi int
		opt Options
	}{
		{nil, 300, DefaultOptions()},
		{ok, 0, DefaultOptions()},
		{ok, 300, Options{Threshold: -1, Contrast: 80}},
		{ok, 300, Options{Threshold: 0.1, Contrast: 0}},
		{ok, 300, Options{Threshold: 0.1, Contrast: 80, Margin: 0.5}},
		{image.NewGray(image.Rect(0, 0, 3, 3)), 300, DefaultOptions()},
	}
	for i, b := range bad {
		if _, err := Analyse(b.g, b.dpi, b.opt); err != ErrBadInput {
			t.Errorf("case %d: %v, want ErrBadInput", i, err)
		}
	}
}

func BenchmarkAnalyseA4(b *testing.B) {
	g := testpage.BlankBack(300, 1)
	for b.Loop() {
		if _, err := Analyse(g, 300, DefaultOptions()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()*1000/float64(b.N), "ms/page")
}

package sim

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/draw"
	"image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/einwurf/einwurf/internal/testtool"
	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/datamatrix"
)

// needProgram finds an external program for an integration test: missing,
// the test is skipped, except in CI, where it fails.
func needProgram(t *testing.T, name string) string {
	t.Helper()
	return testtool.NeedTool(t, name)
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func decodeImage(t *testing.T, data []byte) image.Image {
	t.Helper()
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// codeRegion cuts out the top right corner, where the code is drawn.
func codeRegion(img image.Image, dpi int) image.Image {
	mm := func(v int) int { return v * dpi * 10 / 254 }
	r := image.Rect(mm(165), mm(4), mm(200), mm(35))
	out := image.NewGray(image.Rect(0, 0, r.Dx(), r.Dy()))
	draw.Draw(out, out.Rect, img, r.Min, draw.Src)
	return out
}

func TestDataMatrixOnFirstPage(t *testing.T) {
	for _, tc := range []struct {
		code string
		dpi  int
		mode string
	}{
		{"035F083761", 300, "RGB24"},
		{"03510//0961289", 150, "Grayscale8"},
		{"03510BG0961289", 600, "Grayscale8"},
		{"035F083761", 200, "BlackAndWhite1"},
	} {
		r, err := render(pageKey{kind: kindCodeForm, dpi: tc.dpi, mode: tc.mode, format: "image/jpeg", code: tc.code}, 75)
		if err != nil {
			t.Fatal(err)
		}
		img := decodeImage(t, r.data)
		if w, h := a4Pixels(tc.dpi); img.Bounds().Dx() != w || img.Bounds().Dy() != h {
			t.Errorf("%d dpi: %v, want %dx%d", tc.dpi, img.Bounds(), w, h)
		}
		bmp, err := gozxing.NewBinaryBitmapFromImage(codeRegion(img, tc.dpi))
		if err != nil {
			t.Fatal(err)
		}
		res, err := datamatrix.NewDataMatrixReader().Decode(bmp, nil)
		if err != nil {
			t.Fatalf("%s at %d dpi %s: no Data Matrix found: %v", tc.code, tc.dpi, tc.mode, err)
		}
		if res.GetText() != tc.code {
			t.Errorf("decoded %q, want %q", res.GetText(), tc.code)
		}
	}
}

// TestDataMatrixWithDmtxread reads the code with libdmtx's dmtxread, a
// decoder no one here wrote, from the full page.
func TestDataMatrixWithDmtxread(t *testing.T) {
	bin := needProgram(t, "dmtxread")
	r, err := render(pageKey{kind: kindCodeForm, dpi: 150, mode: "Grayscale8", format: "image/png", code: "035F083761"}, 75)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "page.png")
	if err := os.WriteFile(f, r.data, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-N1", "-m", "30000", "-y", "80%", "-x", "70%", f).Output()
	if err != nil {
		t.Fatalf("dmtxread: %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != "035F083761" {
		t.Errorf("dmtxread read %q", got)
	}
}

// TestPDFWithQpdf checks the one-page PDF with qpdf and pdfinfo.
func TestPDFWithQpdf(t *testing.T) {
	qpdf := needProgram(t, "qpdf")
	pdfinfo := needProgram(t, "pdfinfo")
	r, err := render(pageKey{kind: kindLetter, dpi: 150, mode: "RGB24", format: "application/pdf"}, 75)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "page.pdf")
	if err := os.WriteFile(f, r.data, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, qpdf, "--check", f).CombinedOutput(); err != nil {
		t.Fatalf("qpdf --check: %v\n%s", err, out)
	}
	out, err := exec.CommandContext(ctx, pdfinfo, f).Output()
	if err != nil {
		t.Fatalf("pdfinfo: %v", err)
	}
	if !strings.Contains(string(out), "Pages:           1") || !strings.Contains(string(out), "(A4)") {
		t.Errorf("pdfinfo:\n%s", out)
	}
}

// stats returns mean and standard deviation of the grey level.
func stats(img image.Image) (mean, sd float64) {
	b := img.Bounds()
	var sum, sq float64
	n := 0
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, _ := img.At(x, y).RGBA()
			v := float64(r+g+bl) / 3 / 257
			sum += v
			sq += v * v
			n++
		}
	}
	mean = sum / float64(n)
	return mean, math.Sqrt(sq/float64(n) - mean*mean)
}

func TestPagesLookRight(t *testing.T) {
	blank, err := render(pageKey{kind: kindBlank, dpi: 150, mode: "Grayscale8", format: "image/jpeg"}, 75)
	if err != nil {
		t.Fatal(err)
	}
	m, sd := stats(decodeImage(t, blank.data))
	if m < 240 || sd > 6 {
		t.Errorf("blank page: mean %.1f sd %.1f, want near-white with little noise", m, sd)
	}
	if sd == 0 {
		t.Error("blank page without scanner noise")
	}
	for _, kind := range []string{kindLetter, kindBack, kindCodeForm} {
		r, err := render(pageKey{kind: kind, dpi: 150, mode: "Grayscale8", format: "image/jpeg", code: "035F083761"}, 75)
		if err != nil {
			t.Fatal(err)
		}
		m, sd := stats(decodeImage(t, r.data))
		if m > 245 || sd < 15 {
			t.Errorf("%s: mean %.1f sd %.1f, want visible print", kind, m, sd)
		}
	}
	bw, err := render(pageKey{kind: kindLetter, dpi: 150, mode: "BlackAndWhite1", format: "image/png"}, 75)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(bw.data))
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := img.(*image.Paletted); !ok || len(p.Palette) != 2 {
		t.Errorf("bilevel PNG is %T", img)
	}
	col, err := render(pageKey{kind: kindLetter, dpi: 150, mode: "RGB24", format: "image/jpeg"}, 75)
	if err != nil {
		t.Fatal(err)
	}
	cimg, err := jpeg.Decode(bytes.NewReader(col.data))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cimg.(*image.YCbCr); !ok {
		t.Errorf("colour page decodes as %T", cimg)
	}
	// The letterhead is blue.
	r, g, b, _ := cimg.At(40*150/25, 19*150/25).RGBA()
	if !(b > r+0x1000 && b > g) {
		t.Errorf("letterhead colour %x %x %x, want blue", r>>8, g>>8, b>>8)
	}
}

func TestStartRefuses(t *testing.T) {
	for _, o := range []Options{
		{Addr: "0.0.0.0:0"},
		{Addr: "192.0.2.1:0"},
		{Resolution: 1200},
		{Quality: 101},
		{Sheets: -1},
	} {
		if s, err := Start(o); err == nil {
			_ = s.Close()
			t.Errorf("Start(%+v) accepted", o)
		}
	}
}

func post(t *testing.T, s *Server, body string) *http.Response {
	t.Helper()
	resp, err := http.Post(s.URL()+"/ScanJobs", "text/xml", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp, data
}

const settingsDuplex = `<?xml version="1.0"?><scan:ScanSettings xmlns:scan="http://schemas.hp.com/imaging/escl/2011/05/03" xmlns:pwg="http://www.pwg.org/schemas/2010/12/sm">
<pwg:Version>2.0</pwg:Version><pwg:InputSource>Feeder</pwg:InputSource><scan:Duplex>true</scan:Duplex>
<scan:ColorMode>Grayscale8</scan:ColorMode><pwg:DocumentFormat>image/jpeg</pwg:DocumentFormat><scan:XResolution>150</scan:XResolution><scan:YResolution>150</scan:YResolution></scan:ScanSettings>`

// TestProtocol drives the simulator with raw HTTP: job creation, pages,
// the end, status and delete.
func TestProtocol(t *testing.T) {
	s, err := Start(Options{Sheets: 2, Duplex: true, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if resp := post(t, s, "<not xml"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad settings: %d", resp.StatusCode)
	}
	if resp := post(t, s, strings.Replace(settingsDuplex, ">150<", ">1200<", 2)); resp.StatusCode != http.StatusConflict {
		t.Errorf("unsupported resolution: %d", resp.StatusCode)
	}
	resp := post(t, s, settingsDuplex)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "/eSCL/ScanJobs/") {
		t.Fatalf("Location %q", loc)
	}
	if resp := post(t, s, settingsDuplex); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("second job while busy: %d", resp.StatusCode)
	}
	base := strings.TrimSuffix(s.URL(), "/eSCL")
	for i := 0; i < 4; i++ {
		resp, data := get(t, base+loc+"/NextDocument")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" || len(data) < 1000 {
			t.Fatalf("page %d: %d %s %d bytes", i, resp.StatusCode, resp.Header.Get("Content-Type"), len(data))
		}
	}
	if resp, _ := get(t, base+loc+"/NextDocument"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("after last page: %d", resp.StatusCode)
	}
	_, st := get(t, s.URL()+"/ScannerStatus")
	for _, want := range []string{"<pwg:State>Idle</pwg:State>", "ScannerAdfEmpty", "<pwg:JobState>Completed</pwg:JobState>", "<pwg:ImagesCompleted>4<"} {
		if !strings.Contains(string(st), want) {
			t.Errorf("status lacks %s:\n%s", want, st)
		}
	}
	if s.PagesServed() != 4 || s.Feeder() != 0 {
		t.Errorf("served %d, feeder %d", s.PagesServed(), s.Feeder())
	}
	req, _ := http.NewRequest(http.MethodDelete, base+"/eSCL/ScanJobs/nope", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("delete unknown job: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}

func TestIgnoreDuplex(t *testing.T) {
	s, err := Start(Options{Sheets: 2, Duplex: true, IgnoreDuplex: true, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	loc := post(t, s, settingsDuplex).Header.Get("Location")
	base := strings.TrimSuffix(s.URL(), "/eSCL")
	n := 0
	for ; n < 10; n++ {
		if resp, _ := get(t, base+loc+"/NextDocument"); resp.StatusCode != 200 {
			break
		}
	}
	if n != 2 {
		t.Errorf("%d pages from 2 sheets with duplex ignored, want 2", n)
	}
}

func TestParseSettings(t *testing.T) {
	st, err := ParseSettings(strings.NewReader(settingsDuplex))
	if err != nil {
		t.Fatal(err)
	}
	if st != (Settings{Source: "Feeder", Duplex: true, Resolution: 150, ColorMode: "Grayscale8", Format: "image/jpeg"}) {
		t.Errorf("parsed %+v", st)
	}
	st, err = ParseSettings(strings.NewReader(`<ScanSettings/>`))
	if err != nil || st != (Settings{Source: "Feeder", ColorMode: "RGB24", Format: "image/jpeg"}) {
		t.Errorf("defaults: %+v %v", st, err)
	}
	for _, doc := range []string{
		"", "<x/>", "<ScanSettings><Duplex>maybe</Duplex></ScanSettings>",
		"<ScanSettings><XResolution>300</XResolution><YResolution>600</YResolution></ScanSettings>",
		"<ScanSettings><XResolution>-3</XResolution></ScanSettings>",
		"<ScanSettings><XResolution>x</XResolution></ScanSettings>",
	} {
		if _, err := ParseSettings(strings.NewReader(doc)); !errors.Is(err, ErrSettings) {
			t.Errorf("%q: %v, want ErrSettings", doc, err)
		}
	}
}

func FuzzParseSettings(f *testing.F) {
	f.Add([]byte(settingsDuplex))
	f.Add([]byte(`<ScanSettings/>`))
	f.Add([]byte(`<ScanSettings><Duplex>1</Duplex><DocumentFormatExt>application/pdf</DocumentFormatExt></ScanSettings>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := ParseSettings(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrSettings) {
				t.Fatalf("error not ErrSettings: %v", err)
			}
			return
		}
		if st.Source == "" || st.ColorMode == "" || st.Format == "" || st.Resolution < 0 {
			t.Fatalf("accepted incomplete settings %+v", st)
		}
		_ = st.check()
	})
}

func TestRenderDeterministic(t *testing.T) {
	k := pageKey{kind: kindLetter, seed: 1, dpi: 150, mode: "Grayscale8", format: "image/jpeg"}
	a, err := render(k, 75)
	if err != nil {
		t.Fatal(err)
	}
	b, err := render(k, 75)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.data, b.data) {
		t.Error("the same page renders differently")
	}
	k.seed = 2
	c, err := render(k, 75)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.data, c.data) {
		t.Error("different letters render the same")
	}
	if _, err := render(pageKey{kind: "nonsense", dpi: 150, mode: "Grayscale8", format: "image/jpeg"}, 75); err == nil {
		t.Error("unknown kind rendered")
	}
}

func TestWarm(t *testing.T) {
	for _, code := range []string{"", "035F083761"} {
		s, err := Start(Options{Code: code, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		st := Settings{Source: "Feeder", Resolution: 150, ColorMode: "Grayscale8", Format: "image/jpeg"}
		if err := s.Warm(st); err != nil {
			t.Errorf("code %q: %v", code, err)
		}
		s.cache.mu.Lock()
		n := len(s.cache.entries)
		s.cache.mu.Unlock()
		want := 5 // blank, back, three letters
		if code != "" {
			want++ // and the form with the code
		}
		if n != want {
			t.Errorf("code %q: %d pages cached, want %d", code, n, want)
		}
		_ = s.Close()
	}
}

func TestSetFaults(t *testing.T) {
	s, err := Start(Options{Sheets: 3, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetFaults(Faults{JamAtSheet: 2})
	if f := s.Faults(); f.JamAtSheet != 2 || f.FaultStatus != http.StatusConflict {
		t.Fatalf("faults %+v", f)
	}
	loc := post(t, s, strings.Replace(settingsDuplex, "true", "false", 1)).Header.Get("Location")
	base := strings.TrimSuffix(s.URL(), "/eSCL")
	if resp, _ := get(t, base+loc+"/NextDocument"); resp.StatusCode != 200 {
		t.Fatalf("first page: %d", resp.StatusCode)
	}
	if resp, _ := get(t, base+loc+"/NextDocument"); resp.StatusCode != http.StatusConflict {
		t.Fatalf("second page: %d, want the jam", resp.StatusCode)
	}
	if _, st := get(t, s.URL()+"/ScannerStatus"); !strings.Contains(string(st), "ScannerAdfJam") || !strings.Contains(string(st), "AdfJam</pwg:JobStateReason>") {
		t.Errorf("status:\n%s", st)
	}
	s.SetFaults(Faults{})
	s.Load(2)
	loc = post(t, s, strings.Replace(settingsDuplex, "true", "false", 1)).Header.Get("Location")
	for i := 0; i < 2; i++ {
		if resp, _ := get(t, base+loc+"/NextDocument"); resp.StatusCode != 200 {
			t.Fatalf("after clearing, page %d: %d", i, resp.StatusCode)
		}
	}
}

// Colour PNG pages carry 8 bits per channel, not 16.
func TestColourPNGIs8Bit(t *testing.T) {
	r, err := render(pageKey{kind: kindLetter, seed: 1, dpi: 150, mode: "RGB24", format: "image/png"}, 75)
	if err != nil {
		t.Fatal(err)
	}
	// IHDR: bit depth at byte 24, colour type at byte 25 (2 = truecolour).
	if len(r.data) < 26 || r.data[24] != 8 || r.data[25] != 2 {
		t.Fatalf("bit depth %d, colour type %d; want 8-bit truecolour", r.data[24], r.data[25])
	}
}

// The scan region is honoured: a region half the width of A4 gives a page
// half as wide; beyond the sheet is white.
func TestScanRegion(t *testing.T) {
	full, err := render(pageKey{kind: kindLetter, dpi: 150, mode: "Grayscale8", format: "image/png"}, 75)
	if err != nil {
		t.Fatal(err)
	}
	half, err := render(pageKey{kind: kindLetter, dpi: 150, mode: "Grayscale8", format: "image/png", region: Region{Width: 1240, Height: 4200}}, 75)
	if err != nil {
		t.Fatal(err)
	}
	if full.w != 1240 || full.h != 1754 || half.w != 620 || half.h != 2100 {
		t.Fatalf("full %dx%d, region %dx%d", full.w, full.h, half.w, half.h)
	}
	img, err := png.Decode(bytes.NewReader(half.data))
	if err != nil {
		t.Fatal(err)
	}
	if g := img.(*image.Gray).GrayAt(300, 2050).Y; g != 255 {
		t.Errorf("below the sheet: %d, want white", g)
	}
	st, err := ParseSettings(strings.NewReader(`<ScanSettings><ScanRegions><ScanRegion><XOffset>10</XOffset><YOffset>20</YOffset><Width>1240</Width><Height>1754</Height></ScanRegion></ScanRegions><XResolution>150</XResolution></ScanSettings>`))
	if err != nil || st.Region != (Region{XOffset: 10, YOffset: 20, Width: 1240, Height: 1754}) {
		t.Fatalf("parsed %+v %v", st, err)
	}
	st.Region.Width = 5000
	if st.check() == nil {
		t.Error("a region wider than the feeder was accepted")
	}
}

// Every embedded profile loads; a bad one is refused.
func TestProfilesLoad(t *testing.T) {
	names := Profiles()
	if len(names) < 7 {
		t.Fatalf("profiles %v", names)
	}
	for _, n := range names {
		if p, err := LoadProfile(n); err != nil || p.Name != n || p.Description == "" {
			t.Errorf("%s: %+v %v", n, p, err)
		}
	}
	for _, bad := range []string{`{}`, `{"name":"x","end_status":500}`, `{"name":"x","fault_status":302}`, `{"name":"x","bogus":1}`,
		`{"name":"x","location_base":"ftp://h"}`, `{"name":"x","faults":{"jam_at_sheet":-1}}`, `{"name":"x","ignore_color":"CMYK"}`} {
		if _, err := ParseProfile([]byte(bad)); !errors.Is(err, ErrProfile) {
			t.Errorf("%s: %v", bad, err)
		}
	}
	if _, err := Start(Options{Profile: "nope"}); !errors.Is(err, ErrProfile) {
		t.Errorf("unknown profile: %v", err)
	}
}

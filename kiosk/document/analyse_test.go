package document

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/internal/testtool"
	"github.com/einwurf/einwurf/kiosk/document/internal/testpage"
)

// The JPEG path (one decode into coefficients, analysis at half scale,
// full-resolution parts on demand) judges 300 dpi pages as a full decode
// by image/jpeg does, and finds the Data Matrix libdmtx finds.
func TestJPEGPathAgrees(t *testing.T) {
	dmtx := testpage.NeedTool(t, "dmtxread")
	a, _ := testpage.Letter(300, "035F083761", true, 1)
	b, _ := testpage.Letter(300, "03510//0961289", false, 2)
	pages := []struct {
		g      *image.Gray
		colour bool
		dm     string
	}{
		{a, true, "035F083761"},
		{testpage.Rotate(b, 3), false, "03510//0961289"},
		{testpage.BlankBack(300, 3), true, ""},
	}
	opt := DefaultOptions()
	opt.ThumbWidth = ThumbWidth
	for i, p := range pages {
		data := mustJPEG(t, p.g, p.colour)
		dir := t.TempDir()
		fast, err := Ingest(context.Background(), dir, page(scanner.FormatJPEG, 1, scanner.Front, 300, data), opt)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		slow := Page{Resolution: 300}
		if err := analyse(context.Background(), viewOf(ref, 300), &slow, opt); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(fast.Codes, slow.Codes) || fast.Blank != slow.Blank {
			t.Errorf("page %d: JPEG path %v blank=%v, full decode %v blank=%v", i, fast.Codes, fast.Blank, slow.Codes, slow.Blank)
		}
		if d := fast.Ink - slow.Ink; d > slow.Ink/10+1e-4 || -d > slow.Ink/10+1e-4 {
			t.Errorf("page %d: ink %.5f, full decode %.5f", i, fast.Ink, slow.Ink)
		}
		if p.dm == "" {
			if !fast.Blank || len(fast.Codes) != 0 {
				t.Errorf("blank back: %+v", fast)
			}
		} else {
			found := false
			for _, c := range fast.Codes {
				found = found || c.Symbology == "DataMatrix" && c.Text == p.dm
			}
			if !found {
				t.Errorf("page %d: codes %v, want %q", i, fast.Codes, p.dm)
			}
		}
		if p.dm != "" && i == 0 {
			// libdmtx reads the same code from the same decoded page.
			pngPath := filepath.Join(t.TempDir(), "page.png")
			f, _ := os.Create(pngPath)
			if err := png.Encode(f, grayOf(ref)); err != nil {
				t.Fatal(err)
			}
			f.Close()
			out, _ := exec.Command(dmtx, "-N1", "-S2", pngPath).Output()
			if got := strings.TrimSpace(string(out)); got != p.dm {
				t.Errorf("page %d: dmtxread %q, want %q", i, got, p.dm)
			}
		}
		th, err := os.ReadFile(fast.Thumb)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(testtool.ShotDir(t, "thumbnails"), fmt.Sprintf("page-%d.jpg", i)), th, 0o644)
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(th))
		if err != nil || cfg.Width != ThumbWidth || cfg.Height != (p.g.Rect.Dy()*ThumbWidth+p.g.Rect.Dx()/2)/p.g.Rect.Dx() {
			t.Errorf("page %d: thumbnail %+v %v", i, cfg, err)
		}
	}
}

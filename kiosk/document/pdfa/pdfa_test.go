package pdfa

import (
	"bytes"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/einwurf/einwurf/kiosk/document/internal/testpage"
)

var info = Info{Title: "Bescheid (Widerspruch) – Müller", DocumentID: "00112233445566778899aabbccddeeff", Created: time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC), Producer: "Einwurf 1.0"}

func TestSRGBProfileStructure(t *testing.T) {
	p := SRGBProfile()
	be := binary.BigEndian
	if int(be.Uint32(p)) != len(p) || len(p)%4 != 0 {
		t.Fatalf("size field %d, length %d", be.Uint32(p), len(p))
	}
	if string(p[36:40]) != "acsp" || string(p[12:16]) != "mntr" || string(p[16:20]) != "RGB " || string(p[20:24]) != "XYZ " || p[8] != 2 {
		t.Fatal("bad header")
	}
	n := int(be.Uint32(p[128:]))
	want := map[string]string{"desc": "desc", "cprt": "text", "wtpt": "XYZ ", "rXYZ": "XYZ ", "gXYZ": "XYZ ", "bXYZ": "XYZ ", "rTRC": "curv", "gTRC": "curv", "bTRC": "curv"}
	if n != len(want) {
		t.Fatalf("%d tags", n)
	}
	for i := 0; i < n; i++ {
		e := p[132+12*i:]
		sig, off, size := string(e[:4]), int(be.Uint32(e[4:])), int(be.Uint32(e[8:]))
		if off%4 != 0 || off+size > len(p) || off < 132+12*n {
			t.Errorf("tag %s at %d+%d out of bounds", sig, off, size)
			continue
		}
		if typ := string(p[off : off+4]); typ != want[sig] {
			t.Errorf("tag %s has type %q, want %q", sig, typ, want[sig])
		}
		delete(want, sig)
		switch sig {
		case "rTRC":
			if cnt := int(be.Uint32(p[off+8:])); size != 12+2*cnt || be.Uint16(p[off+12:]) != 0 || be.Uint16(p[off+size-2:]) != 65535 {
				t.Errorf("curve: %d entries in %d bytes", cnt, size)
			}
		case "desc":
			if cnt := int(be.Uint32(p[off+8:])); size != 12+cnt+90-12 || p[off+12+cnt-1] != 0 {
				t.Errorf("desc: count %d size %d", cnt, size)
			}
		}
	}
	if len(want) != 0 {
		t.Errorf("missing tags %v", want)
	}
	// The primaries must add up to the D50 white point.
	var sum [3]float64
	for i := 0; i < n; i++ {
		e := p[132+12*i:]
		if s := string(e[:4]); s == "rXYZ" || s == "gXYZ" || s == "bXYZ" {
			off := int(be.Uint32(e[4:]))
			for k := 0; k < 3; k++ {
				sum[k] += float64(int32(be.Uint32(p[off+8+4*k:]))) / 65536
			}
		}
	}
	for k, w := range []float64{0.9642, 1.0, 0.8249} {
		if d := sum[k] - w; d > 0.001 || d < -0.001 {
			t.Errorf("primaries sum %v, want D50", sum)
		}
	}
}

func TestXMPIsWellFormedAndMatchesInfo(t *testing.T) {
	x := buildXMP(info, []byte{0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff})
	d := xml.NewDecoder(bytes.NewReader(x))
	var texts []string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("XMP not well-formed: %v", err)
		}
		if c, ok := tok.(xml.CharData); ok && strings.TrimSpace(string(c)) != "" {
			texts = append(texts, strings.TrimSpace(string(c)))
		}
	}
	all := strings.Join(texts, "|")
	for _, want := range []string{"2|B", info.Title, "2026-11-27T09:30:00+00:00", "Einwurf 1.0", "uuid:00112233-4455-6677-8899-aabbccddeeff"} {
		if !strings.Contains(all, want) {
			t.Errorf("XMP lacks %q: %s", want, all)
		}
	}
}

func TestWriterRejectsBadInput(t *testing.T) {
	for _, in := range []Info{{DocumentID: "xyz", Created: info.Created}, {DocumentID: "00", Created: time.Time{}}} {
		var b bytes.Buffer
		if _, err := NewWriter(&b, in); !errors.Is(err, ErrBadInfo) || b.Len() != 0 {
			t.Errorf("NewWriter(%+v): %v, %d bytes", in, err, b.Len())
		}
	}
	var b bytes.Buffer
	pw, err := NewWriter(&b, info)
	if err != nil {
		t.Fatal(err)
	}
	good := Image{Width: 10, Height: 10, ColorSpace: DeviceGray, BitsPerComponent: 8, Filter: FilterFlate, Length: 1, Data: strings.NewReader("x")}
	bad := []Image{
		{},
		func() Image { i := good; i.Filter = "JBIG2Decode"; return i }(),
		func() Image { i := good; i.ColorSpace = "DeviceCMYK"; return i }(),
		func() Image { i := good; i.Filter = FilterCCITT; return i }(),
		func() Image { i := good; i.Width = 1 << 20; return i }(),
		func() Image { i := good; i.Data = nil; return i }(),
	}
	pw.bw.Flush()
	size := b.Len()
	for i, img := range bad {
		if err := pw.AddPage(img, 100, 100); !errors.Is(err, ErrBadImage) {
			t.Errorf("image %d: %v", i, err)
		}
	}
	for _, s := range [][2]float64{{0, 100}, {100, 20000}, {-5, 5}} {
		if err := pw.AddPage(good, s[0], s[1]); !errors.Is(err, ErrBadImage) {
			t.Errorf("page size %v: %v", s, err)
		}
	}
	pw.bw.Flush()
	if b.Len() != size || pw.Pages() != 0 {
		t.Error("rejected images wrote something")
	}
	// short data is an error and poisons the writer
	short := good
	short.Length = 10
	if err := pw.AddPage(short, 100, 100); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short data: %v", err)
	}
	if _, _, err := pw.Close(); err == nil {
		t.Error("Close after failed page succeeded")
	}
	if err := pw.AddPage(good, 100, 100); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

// TestQpdfAndPdfinfoAcceptIt builds a two-page file (grey and RGB flate
// images) and has qpdf and pdfinfo check it.
func TestQpdfAndPdfinfoAcceptIt(t *testing.T) {
	testpage.NeedTool(t, "qpdf")
	testpage.NeedTool(t, "pdfinfo")
	var b bytes.Buffer
	pw, err := NewWriter(&b, info)
	if err != nil {
		t.Fatal(err)
	}
	for _, cs := range []string{DeviceGray, DeviceRGB} {
		n := 1
		if cs == DeviceRGB {
			n = 3
		}
		raw := bytes.Repeat([]byte{200}, 40*30*n)
		var z bytes.Buffer
		zw := zlibWriter(&z)
		zw.Write(raw)
		zw.Close()
		if err := pw.AddPage(Image{Width: 40, Height: 30, ColorSpace: cs, BitsPerComponent: 8, Filter: FilterFlate, Length: int64(z.Len()), Data: &z}, 400, 300); err != nil {
			t.Fatal(err)
		}
	}
	size, sum, err := pw.Close()
	if err != nil || size != int64(b.Len()) || sum == [32]byte{} {
		t.Fatalf("Close: %v %d/%d", err, size, b.Len())
	}
	path := filepath.Join(t.TempDir(), "t.pdf")
	os.WriteFile(path, b.Bytes(), 0o600)
	out, err := exec.Command("qpdf", "--check", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "No syntax or stream encoding errors") {
		t.Fatalf("qpdf: %v\n%s", err, out)
	}
	out, err = exec.Command("pdfinfo", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Pages:           2") || !strings.Contains(string(out), "400 x 300 pts") ||
		!strings.Contains(string(out), "Title:           "+info.Title) || !strings.Contains(string(out), "Producer:        Einwurf 1.0") {
		t.Fatalf("pdfinfo: %v\n%s", err, out)
	}
	// the binary marker and the trailer ID PDF/A asks for
	if !bytes.HasPrefix(b.Bytes(), []byte("%PDF-1.7\n%\xE2\xE3\xCF\xD3\n")) || !bytes.Contains(b.Bytes(), []byte("/ID [<00112233445566778899aabbccddeeff>")) {
		t.Error("header or ID missing")
	}
	if bytes.Contains(b.Bytes(), []byte("/Encrypt")) || bytes.Contains(b.Bytes(), []byte("/SMask")) || bytes.Contains(b.Bytes(), []byte("/Interpolate true")) {
		t.Error("forbidden PDF/A feature present")
	}
}

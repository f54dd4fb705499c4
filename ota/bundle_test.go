package ota

import (
	"archive/tar"
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/einwurf/einwurf/ota/durable/crashfs"
)

func tarOf(t testing.TB, hs ...tar.Header) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hs {
		h.Size = int64(len(h.Linkname))
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		tw.WriteHeader(&h)
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(h.Linkname))
		}
	}
	tw.Close()
	return buf.Bytes()
}

func TestUnpackRefuses(t *testing.T) {
	for _, h := range []tar.Header{
		{Name: "../evil", Typeflag: tar.TypeReg, Mode: 0o644},
		{Name: "/etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644},
		{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/etc", Mode: 0o777},
		{Name: "dev", Typeflag: tar.TypeChar, Mode: 0o600},
	} {
		fs := crashfs.New()
		err := unpackTar(fs, bytes.NewReader(tarOf(t, h)), "/slot")
		if !errors.Is(err, ErrBundle) {
			t.Errorf("%s: %v", h.Name, err)
		}
	}
}

func FuzzUnpack(f *testing.F) {
	f.Add(tarOf(f, tar.Header{Name: "einwurfd", Typeflag: tar.TypeReg, Mode: 0o755, Linkname: "x"},
		tar.Header{Name: "assets/", Typeflag: tar.TypeDir, Mode: 0o755}))
	f.Fuzz(func(t *testing.T, b []byte) {
		fs := crashfs.New()
		fs.MkdirAll("/s")
		if err := unpackTar(fs, bytes.NewReader(b), "/s/tree"); err != nil {
			return
		}
		var walk func(string)
		walk = func(d string) {
			names, _ := fs.ReadDir(d)
			for _, n := range names {
				walk(d + "/" + n)
			}
		}
		walk("/")
		names, _ := fs.ReadDir("/")
		for _, n := range names {
			if n != "s" {
				t.Fatalf("unpacked outside the slot: /%s", n)
			}
		}
		if names, _ := fs.ReadDir("/s"); len(names) != 1 || !strings.HasPrefix(names[0], "tree") {
			t.Fatalf("unpacked beside the slot: %v", names)
		}
	})
}

package blocks

import (
	"bytes"
	"errors"
	"testing"
)

func TestBuildParse(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 1000) // 10000 bytes: 3 blocks of 4096
	x, err := Build(bytes.NewReader(data), MinSize)
	if err != nil {
		t.Fatal(err)
	}
	if x.Count() != 3 || x.Length != 10000 {
		t.Fatalf("%d blocks, %d bytes", x.Count(), x.Length)
	}
	if off, n := x.Span(2); off != 8192 || n != 10000-8192 {
		t.Fatalf("span %d %d", off, n)
	}
	y, err := Parse(x.Marshal())
	if err != nil || y.Count() != 3 || y.Hashes[2] != x.Hashes[2] {
		t.Fatalf("parse: %v", err)
	}
	for _, bad := range []string{`{}`, `{"block_size":4096,"length":10000,"blocks":[]}`,
		`{"block_size":1,"length":0,"blocks":[]}`, `{"block_size":4096,"length":1,"blocks":["zz"]}`,
		`{"block_size":4096,"length":-1,"blocks":[]}`, `{"block_size":4096,"length":0,"blocks":[],"x":1}`} {
		if _, err := Parse([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%s) = %v", bad, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	x, _ := Build(bytes.NewReader(make([]byte, 9000)), MinSize)
	f.Add(x.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := Parse(b)
		if err != nil {
			return
		}
		var total int64
		for i := 0; i < x.Count(); i++ {
			_, n := x.Span(i)
			if n <= 0 || n > x.Size {
				t.Fatalf("block %d has %d bytes", i, n)
			}
			total += n
		}
		if total != x.Length {
			t.Fatalf("blocks add to %d, length %d", total, x.Length)
		}
	})
}

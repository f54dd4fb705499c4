package wire

import (
	"bytes"
	"errors"
	"testing"
)

func TestFetchMessages(t *testing.T) {
	r, err := ParseFetchRequest([]byte(`{"id":7,"repo":"targets","path":"ab12.einwurf-1.2.tar","off":262144,"n":262144}`))
	if err != nil || r.ID != 7 || r.Off != 262144 {
		t.Fatalf("%+v %v", r, err)
	}
	for _, bad := range []string{`{"repo":"etc","path":"passwd","n":1}`, `{"repo":"targets","path":"../keys/x","n":1}`,
		`{"repo":"metadata","path":"/etc/passwd","n":1}`, `{"repo":"targets","path":"a/./b","n":1}`,
		`{"repo":"targets","path":"a","n":0}`, `{"repo":"targets","path":"a","n":262145}`, `{"repo":"targets","path":"a","off":-1,"n":1}`, `[`} {
		if _, err := ParseFetchRequest([]byte(bad)); !errors.Is(err, ErrFetchMessage) {
			t.Errorf("%s: %v", bad, err)
		}
	}
	data := bytes.Repeat([]byte{9}, 1000)
	h, d, err := DecodeFetchReply(EncodeFetchReply(FetchReply{ID: 3, Off: 100, Total: 5000}, data))
	if err != nil || h.ID != 3 || h.Off != 100 || h.Total != 5000 || !bytes.Equal(d, data) {
		t.Fatalf("%+v %v", h, err)
	}
	for name, b := range map[string][]byte{
		"short":        {0},
		"beyond total": EncodeFetchReply(FetchReply{ID: 1, Off: 4500, Total: 5000}, data),
		"error + data": EncodeFetchReply(FetchReply{ID: 1, Error: FetchNotFound}, data),
		"header len":   {0xff, 0xff, '{'},
	} {
		if _, _, err := DecodeFetchReply(b); !errors.Is(err, ErrFetchMessage) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzParseFetchRequest(f *testing.F) {
	f.Add([]byte(`{"id":7,"repo":"targets","path":"x.tar","off":0,"n":10}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseFetchRequest(b)
		if err == nil && (r.N <= 0 || r.N > FetchMaxChunk || r.Off < 0 || r.Path == "" || r.Path[0] == '/') {
			t.Fatalf("accepted %+v", r)
		}
	})
}

func FuzzDecodeFetchReply(f *testing.F) {
	f.Add(EncodeFetchReply(FetchReply{ID: 1, Off: 0, Total: 3}, []byte("abc")))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, d, err := DecodeFetchReply(b)
		if err == nil && (h.Off < 0 || h.Off+int64(len(d)) > h.Total && h.Error == "") {
			t.Fatalf("accepted %+v with %d bytes", h, len(d))
		}
	})
}

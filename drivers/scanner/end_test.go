package scanner

import (
	"fmt"
	"io"
	"net/url"
	"testing"
)

func TestIsEnd(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"eof", io.EOF, true},
		{"wrapped eof", fmt.Errorf("escl: %w", io.EOF), true},
		{"nil", nil, false},
		{"jam", ErrJam, false},
		{"url error over eof", &url.Error{Op: "Get", URL: "http://x/", Err: io.EOF}, false},
		{"offline over eof", fmt.Errorf("%w: %w", ErrOffline, io.EOF), false},
		{"unexpected eof", io.ErrUnexpectedEOF, false},
		{"stalled", fmt.Errorf("x: %w", ErrStalled), false},
		{"page too long over eof", fmt.Errorf("%w: %w", ErrPageTooLong, io.EOF), false},
	} {
		if got := IsEnd(c.err); got != c.want {
			t.Errorf("%s: IsEnd(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}

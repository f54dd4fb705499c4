package imager

import "bytes"

// plainSplitter cuts "prefix data suffix" frames out of a byte stream.
// With no prefix a frame starts at the first byte after the previous one.
type plainSplitter struct {
	prefix, suffix []byte
	max            int

	inData   bool
	matched  int // prefix bytes matched while hunting
	buf      []byte
	overlong bool // discarding an overlong frame until its suffix
}

// plainEvent says what a pushed byte did.
type plainEvent int

const (
	plainNone plainEvent = iota
	plainFrame
	plainNoise
	plainOverlong
)

func newPlainSplitter(prefix, suffix []byte, max int) *plainSplitter {
	return &plainSplitter{prefix: prefix, suffix: suffix, max: max, inData: len(prefix) == 0, buf: make([]byte, 0, max+len(suffix))}
}

// push adds one byte; for plainFrame the data (without prefix and suffix)
// is returned, aliasing the splitter's buffer until the next push.
func (s *plainSplitter) push(b byte) ([]byte, plainEvent) {
	if !s.inData {
		if b == s.prefix[s.matched] {
			s.matched++
			if s.matched == len(s.prefix) {
				s.inData, s.matched = true, 0
			}
			return nil, plainNone
		}
		// A mismatch drops what matched so far; b may start the prefix anew.
		s.matched = 0
		if b == s.prefix[0] {
			s.matched = 1
			if len(s.prefix) == 1 {
				s.inData, s.matched = true, 0
			}
		}
		return nil, plainNoise
	}
	if s.overlong {
		// Only the tail is kept, to find the suffix.
		s.buf = append(s.buf, b)
		if len(s.buf) > len(s.suffix) {
			s.buf = s.buf[len(s.buf)-len(s.suffix):]
		}
		if bytes.Equal(s.buf, s.suffix) {
			s.reset()
			return nil, plainOverlong
		}
		return nil, plainNone
	}
	s.buf = append(s.buf, b)
	if bytes.HasSuffix(s.buf, s.suffix) {
		data := s.buf[:len(s.buf)-len(s.suffix)]
		s.reset()
		return data, plainFrame
	}
	if len(s.buf) >= s.max+len(s.suffix) {
		s.overlong = true
		s.buf = s.buf[:0]
	}
	return nil, plainNone
}

func (s *plainSplitter) reset() {
	s.buf = s.buf[:0]
	s.overlong = false
	s.matched = 0
	s.inData = len(s.prefix) == 0
}

// inFrame reports whether a frame has begun.
func (s *plainSplitter) inFrame() bool {
	if len(s.prefix) == 0 {
		return len(s.buf) > 0 || s.overlong
	}
	return s.inData || s.matched > 0
}

// abort drops a partial frame after silence; it reports whether there was
// one (a truncated frame) and whether it was already overlong.
func (s *plainSplitter) abort() (truncated, overlong bool) {
	truncated, overlong = s.inFrame(), s.overlong
	s.reset()
	return truncated && !overlong, overlong
}

package escl

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/einwurf/einwurf/drivers/scanner"
)

// peekLimit is how far into a page the client looks for its pixel size.
// JPEG headers with EXIF thumbnails can be long; those beyond it leave the
// size at 0, which Page allows.
const peekLimit = 32 << 10

// pageBody streams one page and gives read errors their typed meaning.
type pageBody struct {
	br     *bufio.Reader
	rc     io.ReadCloser
	done   func()
	once   sync.Once
	err    error
	closed atomic.Bool
}

// newPageBody wraps rc. br, if not nil, is a reader of size peekLimit to
// reuse: a job hands the same one to each of its pages in turn (the
// previous page is closed first), so a 200-page job does not make 200
// buffers of garbage.
func newPageBody(rc io.ReadCloser, br *bufio.Reader, done func()) *pageBody {
	if br == nil {
		br = bufio.NewReaderSize(rc, peekLimit)
	} else {
		br.Reset(rc)
	}
	return &pageBody{br: br, rc: rc, done: done}
}

// errBodyClosed is returned by Read after Close.
var errBodyClosed = errors.New("escl: page body closed")

// Read implements io.Reader.
func (b *pageBody) Read(p []byte) (int, error) {
	if b.closed.Load() {
		// The buffer may already serve the next page.
		return 0, errBodyClosed
	}
	n, err := b.br.Read(p)
	if err == nil || err == io.EOF {
		return n, err
	}
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || isTyped(err):
		return n, fmt.Errorf("escl: page: %w", err)
	}
	return n, fmt.Errorf("escl: page: %w: %w", scanner.ErrOffline, err)
}

// Close implements io.Closer.
func (b *pageBody) Close() error {
	b.once.Do(func() {
		b.closed.Store(true)
		b.err = b.rc.Close()
		b.done()
	})
	return b.err
}

// peekSize looks at the start of the body for the image's pixel size
// without consuming it.
func (b *pageBody) peekSize(format string) (w, h int, ok bool) {
	switch format {
	case scanner.FormatJPEG:
		buf, _ := b.br.Peek(peekLimit)
		return jpegSize(buf)
	case scanner.FormatPNG:
		buf, _ := b.br.Peek(24)
		return pngSize(buf)
	}
	return 0, 0, false
}

// jpegSize finds the first start-of-frame marker in the JPEG header in buf.
func jpegSize(buf []byte) (w, h int, ok bool) {
	if len(buf) < 4 || buf[0] != 0xFF || buf[1] != 0xD8 {
		return 0, 0, false
	}
	i := 2
	for i+4 <= len(buf) {
		if buf[i] != 0xFF {
			return 0, 0, false
		}
		m := buf[i+1]
		if m == 0xFF { // fill byte
			i++
			continue
		}
		if m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7) {
			i += 2
			continue
		}
		seg := int(binary.BigEndian.Uint16(buf[i+2:]))
		if seg < 2 {
			return 0, 0, false
		}
		isSOF := m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC
		if isSOF {
			if i+9 > len(buf) {
				return 0, 0, false
			}
			h = int(binary.BigEndian.Uint16(buf[i+5:]))
			w = int(binary.BigEndian.Uint16(buf[i+7:]))
			return w, h, w > 0 && h > 0
		}
		if m == 0xD9 || m == 0xDA { // end of image or start of scan before any frame
			return 0, 0, false
		}
		i += 2 + seg
	}
	return 0, 0, false
}

// pngSize reads the IHDR of a PNG.
func pngSize(buf []byte) (w, h int, ok bool) {
	if len(buf) < 24 || string(buf[:8]) != "\x89PNG\r\n\x1a\n" || string(buf[12:16]) != "IHDR" {
		return 0, 0, false
	}
	w = int(binary.BigEndian.Uint32(buf[16:]))
	h = int(binary.BigEndian.Uint32(buf[20:]))
	if w <= 0 || h <= 0 || w > 1<<20 || h > 1<<20 {
		return 0, 0, false
	}
	return w, h, true
}

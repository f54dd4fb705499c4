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
	"time"

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
	// A page cut short is never a whole page: never io.EOF, and never an
	// error that wraps it.
	return n, transportError("page", err)
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

// sniffLen is the length of the longest signature sniff looks for.
const sniffLen = 8

// sniff names the page format its first bytes show, or "" when they are
// no JPEG, PNG or PDF.
func sniff(head []byte) string {
	switch {
	case len(head) >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF:
		return scanner.FormatJPEG
	case len(head) >= 8 && string(head[:8]) == "\x89PNG\r\n\x1a\n":
		return scanner.FormatPNG
	case len(head) >= 5 && string(head[:5]) == "%PDF-":
		return scanner.FormatPDF
	}
	return ""
}

// watch is the stall watchdog of one request: it cancels the request when
// no answer comes within the time it was armed with, and remembers that it
// did, so the error reads scanner.ErrStalled rather than a cancellation.
type watch struct {
	t    *time.Timer
	d    atomic.Int64 // current limit in nanoseconds
	done atomic.Bool
}

func newWatch(d time.Duration, cancel func()) *watch {
	w := &watch{}
	w.d.Store(int64(d))
	w.t = time.AfterFunc(d, func() {
		w.done.Store(true)
		cancel()
	})
	return w
}

// arm (re)starts the watch with limit d (d <= 0 keeps the current one).
func (w *watch) arm(d time.Duration) {
	if d > 0 {
		w.d.Store(int64(d))
	}
	if !w.done.Load() {
		w.t.Reset(time.Duration(w.d.Load()))
	}
}

func (w *watch) stop()       { w.t.Stop() }
func (w *watch) fired() bool { return w.done.Load() }

// watchedBody is an answer's body under its watch. The watch runs only
// while a Read waits for the device (a reader that pauses is no stalled
// device); a Read that waits longer than the stall time ends with
// scanner.ErrStalled.
type watchedBody struct {
	rc     io.ReadCloser
	w      *watch
	cancel context.CancelFunc
	ctx    context.Context // the caller's: its end is no stall
}

func (b *watchedBody) Read(p []byte) (int, error) {
	b.w.arm(0)
	n, err := b.rc.Read(p)
	b.w.stop()
	if err != nil && err != io.EOF && b.w.fired() && b.ctx.Err() == nil {
		return n, fmt.Errorf("%w: no data for %v", scanner.ErrStalled, time.Duration(b.w.d.Load()))
	}
	return n, err
}

func (b *watchedBody) Close() error {
	b.w.stop()
	err := b.rc.Close()
	b.cancel()
	return err
}

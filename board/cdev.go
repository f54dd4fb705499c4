package board

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// The GPIO v2 character device ABI (linux/gpio.h) for edge events. The
// edge set is requested here rather than through gpioioctl.LineSet because
// LineSet drops the kernel's event timestamp, and the Wiegand decoder
// needs the true pulse widths, not the times Go got round to reading them.
const (
	cdevLinesMax     = 64
	cdevNameSize     = 32
	cdevAttrsMax     = 10
	cdevEventSize    = 48
	cdevFlagInput    = 1 << 2
	cdevFlagRising   = 1 << 4
	cdevFlagFalling  = 1 << 5
	cdevFlagPullUp   = 1 << 8
	cdevFlagPullDown = 1 << 9
	cdevFlagBiasOff  = 1 << 10
	cdevEventRising  = 1
	cdevEventFalling = 2
	// cdevEventBuffer is the kernel's event queue per request: a 34-bit
	// Wiegand frame is 68 edges, more than the default 16 per line.
	cdevEventBuffer = 256
)

type cdevAttr struct {
	ID      uint32
	Padding uint32
	Value   uint64
}

type cdevConfigAttr struct {
	Attr cdevAttr
	Mask uint64
}

type cdevConfig struct {
	Flags    uint64
	NumAttrs uint32
	Padding  [5]uint32
	Attrs    [cdevAttrsMax]cdevConfigAttr
}

// cdevRequest is struct gpio_v2_line_request (592 bytes).
type cdevRequest struct {
	Offsets         [cdevLinesMax]uint32
	Consumer        [cdevNameSize]byte
	Config          cdevConfig
	NumLines        uint32
	EventBufferSize uint32
	Padding         [5]uint32
	Fd              int32
}

// cdevGetLineIoctl is GPIO_V2_GET_LINE_IOCTL, _IOWR(0xB4, 0x07, struct
// gpio_v2_line_request).
const cdevGetLineIoctl = 3<<30 | 592<<16 | 0xB4<<8 | 0x07

// newCdevRequest fills a request for offsets as inputs with both edges.
func newCdevRequest(offsets []int, pull gpio.Pull, consumer string) (*cdevRequest, error) {
	if len(offsets) == 0 || len(offsets) > cdevLinesMax {
		return nil, fmt.Errorf("board: %d lines in one request", len(offsets))
	}
	r := &cdevRequest{NumLines: uint32(len(offsets)), EventBufferSize: cdevEventBuffer}
	for i, o := range offsets {
		if o < 0 {
			return nil, fmt.Errorf("board: negative line offset %d", o)
		}
		r.Offsets[i] = uint32(o)
	}
	copy(r.Consumer[:cdevNameSize-1], consumer)
	r.Config.Flags = cdevFlagInput | cdevFlagRising | cdevFlagFalling
	switch pull {
	case gpio.PullUp:
		r.Config.Flags |= cdevFlagPullUp
	case gpio.PullDown:
		r.Config.Flags |= cdevFlagPullDown
	case gpio.Float:
		r.Config.Flags |= cdevFlagBiasOff
	}
	return r, nil
}

// ErrEvent marks a malformed event record from the kernel.
var ErrEvent = errors.New("board: malformed GPIO event")

// cdevEvent is struct gpio_v2_line_event without its padding.
type cdevEvent struct {
	TimestampNs uint64
	ID          uint32
	Offset      uint32
	Seqno       uint32
	LineSeqno   uint32
}

// parseCdevEvents decodes whole 48-byte event records (little endian on
// every platform the kiosk runs on).
func parseCdevEvents(b []byte) ([]cdevEvent, error) {
	if len(b)%cdevEventSize != 0 {
		return nil, fmt.Errorf("%w: %d bytes is no whole number of events", ErrEvent, len(b))
	}
	evs := make([]cdevEvent, 0, len(b)/cdevEventSize)
	for ; len(b) > 0; b = b[cdevEventSize:] {
		e := cdevEvent{
			TimestampNs: binary.LittleEndian.Uint64(b[0:]),
			ID:          binary.LittleEndian.Uint32(b[8:]),
			Offset:      binary.LittleEndian.Uint32(b[12:]),
			Seqno:       binary.LittleEndian.Uint32(b[16:]),
			LineSeqno:   binary.LittleEndian.Uint32(b[20:]),
		}
		if e.ID != cdevEventRising && e.ID != cdevEventFalling {
			return nil, fmt.Errorf("%w: event id %d", ErrEvent, e.ID)
		}
		evs = append(evs, e)
	}
	return evs, nil
}

// cdevEdges reads edge events of a line request. It implements EdgeSource.
// Times are the kernel's CLOCK_MONOTONIC stamps, so only their differences
// mean anything.
type cdevEdges struct {
	f     *os.File
	index map[uint32]int // line offset -> index in the Edges call
	buf   []byte
	queue []Edge
	// lastSeq detects events the kernel dropped because its queue was
	// full; they are counted, since the frame they belonged to is broken.
	lastSeq uint32
	lost    uint64

	mu     sync.Mutex
	closed bool
}

func newCdevEdges(f *os.File, index map[uint32]int) *cdevEdges {
	return &cdevEdges{f: f, index: index, buf: make([]byte, 16*cdevEventSize)}
}

// Lost returns how many events the kernel dropped.
func (e *cdevEdges) Lost() uint64 { return e.lost }

func (e *cdevEdges) WaitForEdge(timeout time.Duration) (Edge, bool, error) {
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if len(e.queue) > 0 {
		ed := e.queue[0]
		e.queue = e.queue[1:]
		return ed, true, nil
	}
	if closed {
		return Edge{}, false, ErrClosed
	}
	if err := e.f.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return Edge{}, false, fmt.Errorf("board: edge deadline: %w", err)
	}
	n, err := e.f.Read(e.buf)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return Edge{}, false, nil
		}
		e.mu.Lock()
		closed = e.closed
		e.mu.Unlock()
		if closed {
			return Edge{}, false, ErrClosed
		}
		return Edge{}, false, fmt.Errorf("board: read edges: %w", err)
	}
	// The kernel hands out whole events per read.
	evs, err := parseCdevEvents(e.buf[:n])
	if err != nil {
		return Edge{}, false, err
	}
	for _, ev := range evs {
		if e.lastSeq != 0 && ev.Seqno > e.lastSeq+1 {
			e.lost += uint64(ev.Seqno - e.lastSeq - 1)
		}
		e.lastSeq = ev.Seqno
		i, ok := e.index[ev.Offset]
		if !ok {
			return Edge{}, false, fmt.Errorf("%w: edge on unrequested line %d", ErrEvent, ev.Offset)
		}
		e.queue = append(e.queue, Edge{Index: i, Level: ev.ID == cdevEventRising, Time: time.Unix(0, int64(ev.TimestampNs))})
	}
	if len(e.queue) == 0 {
		return Edge{}, false, nil
	}
	ed := e.queue[0]
	e.queue = e.queue[1:]
	return ed, true, nil
}

func (e *cdevEdges) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	return e.f.Close()
}

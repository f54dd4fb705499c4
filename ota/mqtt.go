package ota

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/einwurf/einwurf/ota/tuf"
	"github.com/einwurf/einwurf/wire"
)

// MQTTSource fetches the update repository's files over the broker, for a
// kiosk that reaches nothing else: it asks the central's update server for
// chunks (wire.FetchRequest on the kiosk's fetch topic) and reads the
// binary replies Deliver is given (wire.FetchReplyTopic). It is a Source
// for payloads, as HTTPSource is, and a tuf.Fetcher for the metadata, as
// tuf.HTTPFetcher is; what it returns is checked by the caller exactly as
// over HTTP (every block against the index before it is written).
//
// A range is asked for Window chunks ahead, so memory stays at most
// Window × wire.FetchMaxChunk whatever the payload's size. A reply that
// does not come within Timeout is a fault (ErrFetch): the download
// resumes from the last verified block.
type MQTTSource struct {
	KioskID string
	// Publish sends a request (the uplink's; it may wait for the broker).
	Publish func(topic string, payload []byte) error
	// Window is the number of chunks asked for ahead (default 8).
	Window int
	// Timeout bounds the wait for each reply (default 15 s).
	Timeout time.Duration

	mu      sync.Mutex
	next    uint64
	waiting map[uint64]chan fetchReply
}

type fetchReply struct {
	h    wire.FetchReply
	data []byte
}

// Deliver takes a message of the kiosk's fetch reply topic, as it came.
// Replies to nothing asked (late, forged, malformed) are dropped. It never
// blocks.
func (m *MQTTSource) Deliver(payload []byte) {
	h, data, err := wire.DecodeFetchReply(payload)
	if err != nil {
		return
	}
	m.mu.Lock()
	ch := m.waiting[h.ID]
	delete(m.waiting, h.ID)
	m.mu.Unlock()
	if ch != nil {
		ch <- fetchReply{h, bytes.Clone(data)} // buffered: one per request
	}
}

// ask sends one request.
func (m *MQTTSource) ask(repo, path string, off, n int64) (uint64, chan fetchReply, error) {
	ch := make(chan fetchReply, 1)
	m.mu.Lock()
	if m.waiting == nil {
		m.waiting = map[uint64]chan fetchReply{}
	}
	m.next++
	id := m.next
	m.waiting[id] = ch
	m.mu.Unlock()
	b, _ := json.Marshal(wire.FetchRequest{ID: id, Repo: repo, Path: path, Off: off, N: n})
	if err := m.Publish(wire.FetchRequestTopic(m.KioskID), b); err != nil {
		m.forget(id)
		return 0, nil, fmt.Errorf("%w: request: %v", ErrFetch, err)
	}
	return id, ch, nil
}

func (m *MQTTSource) forget(id uint64) {
	m.mu.Lock()
	delete(m.waiting, id)
	m.mu.Unlock()
}

// await waits for a request's reply.
func (m *MQTTSource) await(ctx context.Context, id uint64, ch chan fetchReply) (fetchReply, error) {
	d := m.Timeout
	if d <= 0 {
		d = 15 * time.Second
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case r := <-ch:
		return r, nil
	case <-ctx.Done():
		m.forget(id)
		return fetchReply{}, ctx.Err()
	case <-t.C:
		m.forget(id)
		return fetchReply{}, fmt.Errorf("%w: no reply within %v", ErrFetch, d)
	}
}

// Range implements Source: bytes [off, off+n) of a target whose verified
// length is total.
func (m *MQTTSource) Range(ctx context.Context, path string, off, n, total int64) (io.ReadCloser, error) {
	r := &mqttRange{m: m, ctx: ctx, repo: wire.FetchTargets, path: path, next: off, end: off + n, total: total}
	// The first reply tells whether the server has this payload at all.
	if err := r.fill(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// Fetch implements tuf.Fetcher: a metadata file of at most max bytes.
func (m *MQTTSource) Fetch(ctx context.Context, name string, max int64) ([]byte, error) {
	r := &mqttRange{m: m, ctx: ctx, repo: wire.FetchMetadata, path: name, next: 0, end: min(max, wire.FetchMaxChunk), total: -1}
	defer r.Close()
	var buf bytes.Buffer
	for {
		if err := r.fill(); err != nil {
			return nil, err
		}
		if r.total > max {
			return nil, fmt.Errorf("%w: %s is %d bytes, at most %d", tuf.ErrTooLong, name, r.total, max)
		}
		r.end = r.total
		if len(r.cur) == 0 && len(r.queue) == 0 {
			return buf.Bytes(), nil
		}
		buf.Write(r.cur)
		r.cur = nil
	}
}

// mqttRange reads a range chunk by chunk, Window chunks asked ahead.
type mqttRange struct {
	m          *MQTTSource
	ctx        context.Context
	repo, path string
	next, end  int64 // the next offset to ask for; the range's end
	total      int64 // the file's length as verified (-1: learn it from the first reply)
	want       int64 // the offset the next reply must start at
	queue      []asked
	cur        []byte
	err        error
	started    bool
}

type asked struct {
	id     uint64
	ch     chan fetchReply
	off, n int64
}

// fill tops up the requests and takes the next reply into cur (none when
// the range is done).
func (r *mqttRange) fill() error {
	if r.err != nil {
		return r.err
	}
	if !r.started {
		r.started, r.want = true, r.next
	}
	window := r.m.Window
	if window <= 0 {
		window = 8
	}
	for len(r.queue) < window && r.next < r.end {
		n := min(wire.FetchMaxChunk, r.end-r.next)
		id, ch, err := r.m.ask(r.repo, r.path, r.next, n)
		if err != nil {
			r.err = err
			return err
		}
		r.queue = append(r.queue, asked{id, ch, r.next, n})
		r.next += n
	}
	if len(r.queue) == 0 {
		return nil
	}
	a := r.queue[0]
	r.queue = r.queue[1:]
	rep, err := r.m.await(r.ctx, a.id, a.ch)
	if err == nil {
		err = r.check(a, rep)
	}
	if err != nil {
		r.err = err
		return err
	}
	r.cur = rep.data
	r.want += int64(len(rep.data))
	return nil
}

// check holds a reply against what was asked and what the metadata says.
func (r *mqttRange) check(a asked, rep fetchReply) error {
	switch rep.h.Error {
	case "":
	case wire.FetchNotFound:
		if r.repo == wire.FetchMetadata {
			return fmt.Errorf("%w: %s", tuf.ErrNotFound, r.path)
		}
		return fmt.Errorf("%w: the server has no %s", ErrFetch, r.path)
	case wire.FetchBadRange:
		return fmt.Errorf("%w: range %d+%d not satisfiable (server has %d bytes)", ErrPayload, a.off, a.n, rep.h.Total)
	default:
		return fmt.Errorf("%w: server: %s", ErrFetch, rep.h.Error)
	}
	if r.total < 0 {
		r.total = rep.h.Total
	}
	switch {
	case rep.h.Total != r.total:
		return fmt.Errorf("%w: server has %d bytes, metadata says %d", ErrPayload, rep.h.Total, r.total)
	case rep.h.Off != a.off || rep.h.Off != r.want:
		return fmt.Errorf("%w: reply at %d, asked %d", ErrFetch, rep.h.Off, a.off)
	case int64(len(rep.data)) != min(a.n, r.total-a.off):
		return fmt.Errorf("%w: %d bytes at %d, asked %d", ErrFetch, len(rep.data), a.off, a.n)
	}
	return nil
}

func (r *mqttRange) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if len(r.queue) == 0 && r.next >= r.end {
			return 0, io.EOF
		}
		if err := r.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// Close forgets the requests still out.
func (r *mqttRange) Close() error {
	for _, a := range r.queue {
		r.m.forget(a.id)
	}
	r.queue = nil
	if r.err == nil {
		r.err = io.ErrClosedPipe
	}
	return nil
}

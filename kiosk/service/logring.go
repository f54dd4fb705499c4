package service

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
)

// LogRing keeps the last lines the appliance logged, for the support
// bundle. The appliance's log carries no personal data (a house rule),
// so neither does the ring.
type LogRing struct {
	mu    sync.Mutex
	lines []string
	next  int
	full  bool
}

// NewLogRing keeps the last n lines.
func NewLogRing(n int) *LogRing { return &LogRing{lines: make([]string, max(n, 1))} }

// Handler returns a slog handler that writes to next and to the ring.
func (r *LogRing) Handler(next slog.Handler) slog.Handler {
	return &ringHandler{ring: r, next: next}
}

func (r *LogRing) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines[r.next] = s
	r.next = (r.next + 1) % len(r.lines)
	if r.next == 0 {
		r.full = true
	}
}

// Text returns the kept lines, oldest first.
func (r *LogRing) Text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b bytes.Buffer
	start, n := 0, r.next
	if r.full {
		start, n = r.next, len(r.lines)
	}
	for i := 0; i < n; i++ {
		b.WriteString(r.lines[(start+i)%len(r.lines)])
	}
	return b.String()
}

type ringHandler struct {
	ring  *LogRing
	next  slog.Handler
	attrs []slog.Attr
	group string
}

func (h *ringHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.next.Enabled(ctx, l)
}

func (h *ringHandler) Handle(ctx context.Context, rec slog.Record) error {
	if rec.Level >= slog.LevelInfo {
		var b bytes.Buffer
		th := slog.Handler(slog.NewTextHandler(&b, nil))
		if len(h.attrs) > 0 {
			th = th.WithAttrs(h.attrs)
		}
		if h.group != "" {
			th = th.WithGroup(h.group)
		}
		_ = th.Handle(ctx, rec)
		h.ring.add(b.String())
	}
	if h.next.Enabled(ctx, rec.Level) {
		return h.next.Handle(ctx, rec)
	}
	return nil
}

func (h *ringHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &ringHandler{ring: h.ring, next: h.next.WithAttrs(as), attrs: append(append([]slog.Attr{}, h.attrs...), as...), group: h.group}
}

func (h *ringHandler) WithGroup(name string) slog.Handler {
	return &ringHandler{ring: h.ring, next: h.next.WithGroup(name), attrs: h.attrs, group: name}
}

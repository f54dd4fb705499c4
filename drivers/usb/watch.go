package usb

import (
	"context"
	"strconv"
	"time"
)

// EventKind says what happened to a device.
type EventKind int

// Event kinds.
const (
	Added EventKind = iota
	Removed
)

// String names the kind.
func (k EventKind) String() string {
	if k == Removed {
		return "removed"
	}
	return "added"
}

// Event is a device appearing or disappearing.
type Event struct {
	Kind EventKind // what happened
	Desc Desc      // to which device
}

// DefaultPoll is the watch interval: well inside the two seconds in which
// the kiosk must notice a scanner being unplugged or plugged back in, and
// cheap (one descriptor walk, no device opened).
const DefaultPoll = 500 * time.Millisecond

// Watch polls h every interval (DefaultPoll if 0) and sends an event for
// every device that match accepts (all if nil) when it appears or
// disappears. Devices present at the start are reported as Added. A
// re-plugged device is Removed and then Added again, as its address
// changes. List errors are skipped; the next poll tries again. The channel
// is closed when ctx is done.
func Watch(ctx context.Context, h Host, interval time.Duration, match func(Desc) bool) <-chan Event {
	if interval <= 0 {
		interval = DefaultPoll
	}
	out := make(chan Event, 16)
	go func() {
		defer close(out)
		known := map[string]Desc{}
		key := func(d Desc) string { return d.Socket() + "@" + strconv.Itoa(d.Address) }
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if ds, err := h.List(ctx); err == nil {
				seen := map[string]bool{}
				var evs []Event
				for _, d := range ds {
					if match != nil && !match(d) {
						continue
					}
					k := key(d)
					seen[k] = true
					if _, ok := known[k]; !ok {
						known[k] = d
						evs = append(evs, Event{Kind: Added, Desc: d})
					}
				}
				for k, d := range known {
					if !seen[k] {
						delete(known, k)
						evs = append([]Event{{Kind: Removed, Desc: d}}, evs...)
					}
				}
				for _, e := range evs {
					select {
					case out <- e:
					case <-ctx.Done():
						return
					}
				}
			}
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

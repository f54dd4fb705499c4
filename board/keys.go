package board

import (
	"context"
	"fmt"
	"time"
)

// KeyDebounce is how long after a press a key's contacts may bounce: a
// second press of the same key sooner than this is the same press.
const KeyDebounce = 40 * time.Millisecond

// keyPoll bounds how long WatchKeys waits for an edge before it looks at
// its context again.
const keyPoll = 250 * time.Millisecond

// WatchKeys watches the panel keys (PanelKeys) the profile maps, as one
// edge set, and sends the key's signal once per press: on the edge to the
// asserted level, bounces within KeyDebounce of the last press of the
// same key dropped (by the edges' own times, which on a real board are
// the kernel's). The channel is closed when ctx ends or the edges fail. A
// profile that maps no panel key gets ErrNoSignal. Presses that find the
// channel full (its reader fell behind by 16) are dropped: a key is a
// person's request now, not later.
func WatchKeys(ctx context.Context, b Board) (<-chan Signal, error) {
	var keys []Signal
	var lines []Line
	for _, s := range PanelKeys {
		if _, ok := b.Profile().Lines[s]; !ok {
			continue
		}
		keys = append(keys, s)
		spec := b.Profile().Lines[s]
		lines = append(lines, Line{Signal: s, ActiveLow: spec.ActiveLow, Pull: spec.GPIOPull()})
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no panel keys", ErrNoSignal)
	}
	es, err := b.Edges(keys...)
	if err != nil {
		return nil, err
	}
	out := make(chan Signal, 16)
	go func() {
		defer close(out)
		defer es.Close()
		last := make([]time.Time, len(keys))
		for ctx.Err() == nil {
			e, ok, err := es.WaitForEdge(keyPoll)
			if err != nil {
				return // closed, or the lines failed: no more keys
			}
			if !ok || e.Index < 0 || e.Index >= len(keys) || e.Level != lines[e.Index].Level(true) {
				continue
			}
			if !last[e.Index].IsZero() && e.Time.Sub(last[e.Index]) < KeyDebounce {
				continue
			}
			last[e.Index] = e.Time
			select {
			case out <- keys[e.Index]:
			default:
			}
		}
	}()
	return out, nil
}

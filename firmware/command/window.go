package command

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/einwurf/einwurf/internal/atomicfile"
)

// WindowSize is how many sequence numbers below the highest one carried
// out the Window still tells apart: a command up to WindowSize-1 behind the
// newest may arrive late (MQTT with several in flight does not keep their
// order) and is still carried out once; anything older is refused.
const WindowSize = 64

// Errors of Window.Check (ErrReplayed is Parse's, wrapped).
var (
	// ErrTooOld is a sequence number below the window: whether it was
	// carried out can no longer be known, so it is refused.
	ErrTooOld = fmt.Errorf("%w: older than the window", ErrReplayed)
)

// Window is the kiosk's persisted anti-replay window over the central's
// command sequence numbers, as IPsec (RFC 4303 §3.4.3) and DTLS keep one:
// the highest number carried out and a bitmap of the WindowSize numbers
// at and below it. A number is accepted once: above the highest, or inside
// the window and not yet marked. It also keeps, per group of commands that
// set one state (out of / in service), the newest number that set it, so a
// late older command does not undo a newer one.
//
// It lives in one small file written temp → fsync → rename → fsync of the
// folder (internal/atomicfile): a crash leaves the old or the new window,
// never a torn one.
type Window struct {
	path string
	mu   sync.Mutex
	st   windowState
}

type windowState struct {
	High uint64 `json:"high"`
	// Seen: bit i set means High-i was carried out.
	Seen uint64 `json:"seen,string"`
	// Latest is, per state group, the newest sequence that set it.
	Latest map[string]uint64 `json:"latest,omitempty"`
}

// OpenWindow reads the window stored at path (empty when the file does not
// exist). A file of the earlier format, one number, reads as that number
// with everything at and below it carried out. A file that holds neither is
// an error: a lost window would open the door to replays.
func OpenWindow(path string) (*Window, error) {
	w := &Window{path: path}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return w, nil
	case err != nil:
		return nil, fmt.Errorf("command: read window: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		w.st = windowState{High: n, Seen: ^uint64(0)}
		if n == 0 {
			w.st.Seen = 0
		}
		return w, nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w.st); err != nil {
		return nil, fmt.Errorf("command: window file %s: %w", filepath.Base(path), err)
	}
	if w.st.High == 0 && w.st.Seen != 0 {
		return nil, fmt.Errorf("command: window file %s: marks without a highest number", filepath.Base(path))
	}
	return w, nil
}

// High returns the highest sequence number carried out.
func (w *Window) High() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.st.High
}

// Check reports whether seq may be carried out: nil, or ErrReplayed
// (wrapped) for a number already carried out, ErrTooOld for one below the
// window. It changes nothing.
func (w *Window) Check(seq uint64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.st.check(seq)
}

func (s *windowState) check(seq uint64) error {
	switch {
	case seq == 0:
		return fmt.Errorf("%w: 0", ErrReplayed)
	case seq > s.High:
		return nil
	case s.High-seq >= WindowSize:
		return fmt.Errorf("%w: %d, highest %d", ErrTooOld, seq, s.High)
	case s.Seen&(1<<(s.High-seq)) != 0:
		return fmt.Errorf("%w: %d, highest %d", ErrReplayed, seq, s.High)
	}
	return nil
}

// Mark records seq as carried out and persists the window before it
// returns; the in-memory window changes only once it is on disk. When
// group is not empty, seq also becomes the group's latest number if it is
// newer. It refuses what Check refuses.
func (w *Window) Mark(seq uint64, group string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.st.check(seq); err != nil {
		return err
	}
	next := w.st
	if seq > next.High {
		shift := seq - next.High
		if shift >= WindowSize {
			next.Seen = 0
		} else {
			next.Seen <<= shift
		}
		next.High = seq
	}
	next.Seen |= 1 << (next.High - seq)
	if group != "" && seq > next.Latest[group] {
		l := make(map[string]uint64, len(next.Latest)+1)
		for k, v := range next.Latest {
			l[k] = v
		}
		l[group] = seq
		next.Latest = l
	}
	b, err := json.Marshal(next)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(w.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("command: store window: %w", err)
	}
	w.st = next
	return nil
}

// Latest returns the newest sequence number that set group's state (0
// when none did).
func (w *Window) Latest(group string) uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.st.Latest[group]
}

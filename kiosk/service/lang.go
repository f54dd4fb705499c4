package service

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/einwurf/einwurf/internal/atomicfile"
)

// Languages are the languages of service mode's screen; the first is the
// default.
var Languages = []string{"de", "en"}

// ErrLang refuses a language the screen has no words for.
var ErrLang = errors.New("service: unknown language")

// langStore is the staff's language choice, kept in a file of the
// kiosk's state so that it survives a restart of the kiosk and of its
// browser (whose profile a kiosk may wipe at every start).
type langStore struct {
	path string
	mu   sync.Mutex
	lang string
}

// openLang reads the stored choice at path ("": nothing is kept); a
// missing or unknown value is the default.
func openLang(path string) *langStore {
	s := &langStore{path: path, lang: Languages[0]}
	if path == "" {
		return s
	}
	if b, err := os.ReadFile(path); err == nil && validLang(strings.TrimSpace(string(b))) {
		s.lang = strings.TrimSpace(string(b))
	}
	return s
}

func validLang(l string) bool {
	for _, x := range Languages {
		if x == l {
			return true
		}
	}
	return false
}

func (s *langStore) get() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lang
}

// set stores l (temp → fsync → rename → fsync of the folder) and then
// uses it; a store that fails changes nothing.
func (s *langStore) set(l string) error {
	if !validLang(l) {
		return fmt.Errorf("%w: %q", ErrLang, l)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.path != "" && l != s.lang {
		if err := atomicfile.Write(s.path, []byte(l+"\n"), 0o600); err != nil {
			return fmt.Errorf("service: language not stored: %w", err)
		}
	}
	s.lang = l
	return nil
}

// Lang is the language the staff's screen is shown in.
func (m *Mode) Lang() string { return m.lang.get() }

// SetLang sets and keeps the screen's language. It may be chosen while
// the key is turned (at the login screen too), not otherwise.
func (m *Mode) SetLang(l string) error {
	m.mu.Lock()
	st := m.state
	m.mu.Unlock()
	if st != Locked && st != Open {
		return fmt.Errorf("%w: the service key is not turned", ErrNotOpen)
	}
	return m.lang.set(l)
}

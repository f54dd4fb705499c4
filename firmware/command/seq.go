package command

import (
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

// Seq is a sequence number persisted in one small file, written
// temp → fsync → rename → fsync of the folder, so a crash leaves the old or
// the new value, never a torn one. The zero value of the file (missing)
// reads as 0.
type Seq struct {
	path string
	mu   sync.Mutex
	v    uint64
}

// OpenSeq reads the sequence number stored at path (0 when the file does
// not exist). A file that does not hold a number is an error: a lost
// sequence would open the door to replays.
func OpenSeq(path string) (*Seq, error) {
	s := &Seq{path: path}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("command: read sequence: %w", err)
	}
	s.v, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("command: sequence file %s: %w", filepath.Base(path), err)
	}
	return s, nil
}

// Value returns the stored number.
func (s *Seq) Value() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.v
}

// Store persists v; the in-memory value changes only once it is on disk.
func (s *Seq) Store(v uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.storeLocked(v)
}

// Next persists and returns the stored number plus one.
func (s *Seq) Next() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.storeLocked(s.v + 1); err != nil {
		return 0, err
	}
	return s.v, nil
}

func (s *Seq) storeLocked(v uint64) error {
	if err := atomicfile.Write(s.path, []byte(strconv.FormatUint(v, 10)+"\n"), 0o600); err != nil {
		return fmt.Errorf("command: store sequence: %w", err)
	}
	s.v = v
	return nil
}

// Package ramfolder is a document.Folder whose files live in memory only,
// in anonymous memory files (Linux memfd), never in any file system. A
// visit's plaintext pages kept here are unreadable at rest: they have no
// name another process could open, the kernel frees them the moment the
// kiosk process ends — a crash or kill -9 included — and a power cut takes
// RAM with it. Files are opened again through /proc/self/fd, so code that
// reads by path (MuPDF, os.Open) works unchanged.
//
// Memory files can be swapped out like any other memory: the kiosk runs
// without swap (docs/operations.md). The process should also not be
// dumpable (no core dump holding pages; einwurfd sees to that).
package ramfolder

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/einwurf/einwurf/kiosk/document"
)

// ErrClosed is returned after Close.
var ErrClosed = errors.New("ramfolder: closed")

// Folder keeps files in memory. Its methods are safe for concurrent use.
type Folder struct {
	mu     sync.Mutex
	files  map[string]*os.File // path → the memory file, held open
	names  map[string]string   // name given by Rename → path
	closed bool
}

var _ document.Folder = (*Folder)(nil)

// New returns an empty Folder, or an error where memory files are not
// available.
func New() (*Folder, error) {
	f := &Folder{files: map[string]*os.File{}, names: map[string]string{}}
	probe, err := f.CreateTemp("probe")
	if err != nil {
		return nil, err
	}
	probe.Close()
	f.Remove(probe.Name())
	return f, nil
}

// CreateTemp implements document.Folder. The pattern only labels the
// memory file (seen in /proc/self/fd); pass nothing personal.
func (f *Folder) CreateTemp(pattern string) (*os.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, ErrClosed
	}
	keep, err := memfd(pattern)
	if err != nil {
		return nil, fmt.Errorf("ramfolder: %w", err)
	}
	path := fmt.Sprintf("/proc/self/fd/%d", keep.Fd())
	w, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		keep.Close()
		return nil, fmt.Errorf("ramfolder: %w", err)
	}
	f.files[path] = keep
	return w, nil
}

// Rename implements document.Folder. The path stays the same; a file
// that had the name before is freed.
func (f *Folder) Rename(path, name string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return "", ErrClosed
	}
	if _, ok := f.files[path]; !ok {
		return "", fmt.Errorf("ramfolder: rename %s: %w", path, os.ErrNotExist)
	}
	if old, ok := f.names[name]; ok && old != path {
		f.drop(old)
	}
	for n, p := range f.names {
		if p == path {
			delete(f.names, n)
		}
	}
	f.names[name] = path
	return path, nil
}

// drop frees the file at path. Caller holds f.mu.
func (f *Folder) drop(path string) error {
	keep, ok := f.files[path]
	if !ok {
		return fmt.Errorf("ramfolder: remove %s: %w", path, os.ErrNotExist)
	}
	delete(f.files, path)
	for n, p := range f.names {
		if p == path {
			delete(f.names, n)
		}
	}
	return keep.Close()
}

// Remove implements document.Folder.
func (f *Folder) Remove(path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.drop(path)
}

// Len returns how many files the folder holds.
func (f *Folder) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.files)
}

// Close frees every file; later calls fail with ErrClosed. Paths handed
// out before must not be opened after Close (the descriptor numbers are
// reused).
func (f *Folder) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	for _, keep := range f.files {
		errs = append(errs, keep.Close())
	}
	f.files, f.names, f.closed = map[string]*os.File{}, map[string]string{}, true
	return errors.Join(errs...)
}

// Package crashfs is a durable.FS in memory that can lose power: PowerCut
// drops every write that was not synced (file contents since their last
// Sync, names since their folder's last SyncDir), as a real disk may.
// Folders themselves are durable when made.
package crashfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/einwurf/einwurf/ota/durable"
)

// ErrStale is returned by a file opened before the last power cut.
var ErrStale = errors.New("crashfs: file handle from before the power cut")

type inode struct {
	live, synced []byte
}

// FS is the in-memory file system. It is safe for concurrent use.
type FS struct {
	mu     sync.Mutex
	gen    int
	live   map[string]*inode // name → file, as the running program sees it
	synced map[string]*inode // name → file, as it would be after a power cut
	dirs   map[string]bool
	// Writes counts bytes written through WriteAt (for tests that check
	// nothing was written).
	Writes int64
}

var _ durable.FS = (*FS)(nil)

// New returns an empty file system with the root folder.
func New() *FS {
	return &FS{live: map[string]*inode{}, synced: map[string]*inode{}, dirs: map[string]bool{"/": true, ".": true}}
}

// PowerCut drops everything not synced; open files become stale.
func (c *FS) PowerCut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.live = map[string]*inode{}
	for n, ino := range c.synced {
		ino.live = append([]byte(nil), ino.synced...)
		c.live[n] = ino
	}
}

func clean(name string) string { return path.Clean("/" + name) }

func notExist(op, name string) error { return &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist} }

// OpenFile implements durable.FS.
func (c *FS) OpenFile(name string, flag int) (durable.File, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	name = clean(name)
	ino := c.live[name]
	if ino == nil {
		if flag&os.O_CREATE == 0 {
			return nil, notExist("open", name)
		}
		if !c.dirs[path.Dir(name)] {
			return nil, notExist("open", path.Dir(name))
		}
		ino = &inode{}
		c.live[name] = ino
	}
	if flag&os.O_TRUNC != 0 {
		ino.live = nil
	}
	return &file{c: c, ino: ino, gen: c.gen}, nil
}

// ReadFile implements durable.FS.
func (c *FS) ReadFile(name string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ino := c.live[clean(name)]
	if ino == nil {
		return nil, notExist("read", name)
	}
	return append([]byte(nil), ino.live...), nil
}

// Size implements durable.FS.
func (c *FS) Size(name string) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ino := c.live[clean(name)]
	if ino == nil {
		return 0, notExist("stat", name)
	}
	return int64(len(ino.live)), nil
}

// Rename implements durable.FS.
func (c *FS) Rename(o, n string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	o, n = clean(o), clean(n)
	if !c.dirs[path.Dir(n)] {
		return notExist("rename", path.Dir(n))
	}
	if c.dirs[o] {
		// A folder: everything below it moves (durable after SyncDir of
		// the new parent).
		for p, ino := range c.live {
			if strings.HasPrefix(p, o+"/") {
				delete(c.live, p)
				c.live[n+p[len(o):]] = ino
			}
		}
		for d := range c.dirs {
			if d == o || strings.HasPrefix(d, o+"/") {
				delete(c.dirs, d)
				c.dirs[n+d[len(o):]] = true
			}
		}
		return nil
	}
	ino := c.live[o]
	if ino == nil {
		return notExist("rename", o)
	}
	delete(c.live, o)
	c.live[n] = ino
	return nil
}

// Remove implements durable.FS.
func (c *FS) Remove(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	name = clean(name)
	if c.live[name] == nil {
		return notExist("remove", name)
	}
	delete(c.live, name)
	return nil
}

// RemoveAll implements durable.FS: the names go at once, durably only after
// SyncDir of their folders (here: of name's parent).
func (c *FS) RemoveAll(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	name = clean(name)
	for n := range c.live {
		if n == name || strings.HasPrefix(n, name+"/") {
			delete(c.live, n)
		}
	}
	return nil
}

// MkdirAll implements durable.FS.
func (c *FS) MkdirAll(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for d := clean(name); !c.dirs[d]; d = path.Dir(d) {
		c.dirs[d] = true
	}
	return nil
}

// SyncDir implements durable.FS: the folder's names become durable as they
// are now, and so do removals below it and files that were durable below a
// folder renamed into it.
func (c *FS) SyncDir(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	name = clean(name)
	if !c.dirs[name] {
		return notExist("syncdir", name)
	}
	durableIno := map[*inode]bool{}
	for _, ino := range c.synced {
		durableIno[ino] = true
	}
	under := func(n string) bool { return path.Dir(n) == name || strings.HasPrefix(n, name+"/") }
	for n := range c.synced {
		if under(n) && c.live[n] == nil {
			delete(c.synced, n)
		}
	}
	for n, ino := range c.live {
		// Direct children, and files below a folder renamed into this one.
		if path.Dir(n) == name || strings.HasPrefix(n, name+"/") && durableIno[ino] {
			c.synced[n] = ino
		}
	}
	return nil
}

// ReadDir implements durable.FS.
func (c *FS) ReadDir(name string) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	name = clean(name)
	if !c.dirs[name] {
		return nil, notExist("readdir", name)
	}
	seen := map[string]bool{}
	for n := range c.live {
		if path.Dir(n) == name {
			seen[path.Base(n)] = true
		}
	}
	for d := range c.dirs {
		if d != name && path.Dir(d) == name {
			seen[path.Base(d)] = true
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

type file struct {
	c   *FS
	ino *inode
	gen int
}

func (f *file) check() error {
	if f.gen != f.c.gen {
		return ErrStale
	}
	return nil
}

func (f *file) ReadAt(p []byte, off int64) (int, error) {
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	if err := f.check(); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, fmt.Errorf("crashfs: negative offset")
	}
	if off >= int64(len(f.ino.live)) {
		return 0, io.EOF
	}
	n := copy(p, f.ino.live[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *file) WriteAt(p []byte, off int64) (int, error) {
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	if err := f.check(); err != nil {
		return 0, err
	}
	if end := off + int64(len(p)); end > int64(len(f.ino.live)) {
		f.ino.live = append(f.ino.live, make([]byte, end-int64(len(f.ino.live)))...)
	}
	copy(f.ino.live[off:], p)
	f.c.Writes += int64(len(p))
	return len(p), nil
}

func (f *file) Sync() error {
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	if err := f.check(); err != nil {
		return err
	}
	f.ino.synced = append([]byte(nil), f.ino.live...)
	return nil
}

func (f *file) Truncate(size int64) error {
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	if err := f.check(); err != nil {
		return err
	}
	if size < int64(len(f.ino.live)) {
		f.ino.live = f.ino.live[:size]
	} else {
		f.ino.live = append(f.ino.live, make([]byte, size-int64(len(f.ino.live)))...)
	}
	return nil
}

func (f *file) Close() error { return nil }

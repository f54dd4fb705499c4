// Package durable is the file system the updater writes through: the few
// operations it needs, each with its durability spelled out, so a test
// double (crashfs) can drop whatever was not synced and show that every
// state survives a power cut.
package durable

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// File is an open file.
type File interface {
	io.ReaderAt
	io.WriterAt
	// Sync makes the file's content durable.
	Sync() error
	Truncate(size int64) error
	Close() error
}

// FS is a file system. Names are slash-separated paths.
type FS interface {
	// OpenFile opens (and with os.O_CREATE creates) a file for reading and
	// writing. A created file's name is durable only after SyncDir of its
	// folder.
	OpenFile(name string, flag int) (File, error)
	ReadFile(name string) ([]byte, error)
	// Size returns a file's size; fs.ErrNotExist if there is none.
	Size(name string) (int64, error)
	// Rename replaces newname by oldname atomically; durable after SyncDir.
	Rename(oldname, newname string) error
	Remove(name string) error
	// RemoveAll removes a folder and everything in it.
	RemoveAll(name string) error
	MkdirAll(name string) error
	// SyncDir makes the names in a folder durable.
	SyncDir(name string) error
	// ReadDir lists a folder's entry names, sorted.
	ReadDir(name string) ([]string, error)
}

// WriteFile writes data to name atomically and durably: a temporary file,
// synced, renamed over name, and the folder synced.
func WriteFile(fsys FS, name string, data []byte) error {
	tmp := name + ".tmp"
	f, err := fsys.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_RDWR)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fsys.Rename(tmp, name); err != nil {
		return err
	}
	return fsys.SyncDir(filepath.Dir(name))
}

// OS is the operating system's file system.
type OS struct{}

var _ FS = OS{}

// OpenFile implements FS.
func (OS) OpenFile(name string, flag int) (File, error) {
	return os.OpenFile(name, flag|os.O_RDWR, 0o644)
}

// ReadFile implements FS.
func (OS) ReadFile(name string) ([]byte, error) { return os.ReadFile(name) }

// Size implements FS.
func (OS) Size(name string) (int64, error) {
	st, err := os.Stat(name)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// Rename implements FS.
func (OS) Rename(o, n string) error { return os.Rename(o, n) }

// Remove implements FS.
func (OS) Remove(name string) error { return os.Remove(name) }

// RemoveAll implements FS.
func (OS) RemoveAll(name string) error { return os.RemoveAll(name) }

// MkdirAll implements FS.
func (OS) MkdirAll(name string) error { return os.MkdirAll(name, 0o755) }

// SyncDir implements FS.
func (OS) SyncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadDir implements FS.
func (OS) ReadDir(name string) ([]string, error) {
	es, err := os.ReadDir(name)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Name()
	}
	return out, nil
}

// IsNotExist reports whether err says a file does not exist.
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// Chmod marks a file executable (or not).
func (OS) Chmod(name string, exec bool) error {
	mode := os.FileMode(0o644)
	if exec {
		mode = 0o755
	}
	return os.Chmod(name, mode)
}

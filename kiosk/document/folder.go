package document

import (
	"fmt"
	"os"
	"path/filepath"
)

// Folder is where Ingest keeps a visit's page files: a plain folder on disk
// (Dir), or one that keeps them out of every file system
// (kiosk/document/ramfolder), so that a crash or power cut leaves nothing
// readable behind.
type Folder interface {
	// CreateTemp makes a new empty file, as os.CreateTemp does in a
	// folder. Its Name opens it again; closing it does not remove it.
	CreateTemp(pattern string) (*os.File, error)
	// Rename gives the file at path the name name, replacing a file of
	// that name, and returns the path it is opened by from now on.
	Rename(path, name string) (string, error)
	// Remove removes the file at path.
	Remove(path string) error
}

// Dir is a Folder on disk: the files are plain files in that folder.
type Dir string

// CreateTemp implements Folder.
func (d Dir) CreateTemp(pattern string) (*os.File, error) { return os.CreateTemp(string(d), pattern) }

// Rename implements Folder.
func (d Dir) Rename(path, name string) (string, error) {
	to := filepath.Join(string(d), name)
	if err := os.Rename(path, to); err != nil {
		return "", fmt.Errorf("document: %w", err)
	}
	return to, nil
}

// Remove implements Folder.
func (d Dir) Remove(path string) error { return os.Remove(path) }

package ota

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/einwurf/einwurf/ota/durable"
)

// ErrBundle is returned for a bundle that does not unpack: a path leaving
// its folder, a link, a device, too many files.
var ErrBundle = errors.New("ota: bad bundle")

// MaxBundleFiles bounds the files of one bundle.
const MaxBundleFiles = 10000

// Bundle file names the launcher relies on.
const (
	// BundleBinary is the kiosk program in a bundle.
	BundleBinary = "einwurfd"
)

// unpack extracts a bundle (an uncompressed tar of regular files and
// folders) of n bytes from image into dir, each file synced, then the
// folders. dir must not exist.
func unpack(fsys durable.FS, image string, n int64, dir string) error {
	f, err := fsys.OpenFile(image, os.O_RDONLY)
	if err != nil {
		return err
	}
	defer f.Close()
	return unpackTar(fsys, io.NewSectionReader(f, 0, n), dir)
}

func unpackTar(fsys durable.FS, r io.Reader, dir string) error {
	if err := fsys.MkdirAll(dir); err != nil {
		return err
	}
	tr := tar.NewReader(r)
	dirs := map[string]bool{dir: true}
	files := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBundle, err)
		}
		if files++; files > MaxBundleFiles {
			return fmt.Errorf("%w: more than %d files", ErrBundle, MaxBundleFiles)
		}
		name := path.Clean(h.Name)
		if name == "." || path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("%w: path %q", ErrBundle, h.Name)
		}
		dst := path.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := fsys.MkdirAll(dst); err != nil {
				return err
			}
			dirs[dst] = true
		case tar.TypeReg:
			if err := fsys.MkdirAll(path.Dir(dst)); err != nil {
				return err
			}
			dirs[path.Dir(dst)] = true
			if err := writeFrom(fsys, dst, tr, h.Mode&0o111 != 0); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: %q is not a file or folder", ErrBundle, h.Name)
		}
	}
	for d := range dirs {
		if err := fsys.SyncDir(d); err != nil {
			return err
		}
	}
	return nil
}

// Executable is implemented by file systems that can mark a file
// executable (the operating system's).
type Executable interface {
	Chmod(name string, exec bool) error
}

func writeFrom(fsys durable.FS, name string, r io.Reader, exec bool) error {
	f, err := fsys.OpenFile(name, os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return err
	}
	buf := make([]byte, 64<<10)
	var off int64
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, err := f.WriteAt(buf[:n], off); err != nil {
				f.Close()
				return err
			}
			off += int64(n)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			f.Close()
			return fmt.Errorf("%w: %v", ErrBundle, rerr)
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if x, ok := fsys.(Executable); ok && exec {
		return x.Chmod(name, true)
	}
	return nil
}

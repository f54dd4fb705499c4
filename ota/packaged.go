package ota

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/einwurf/einwurf/ota/durable"
	"github.com/einwurf/einwurf/wire/blocks"
)

// BundleVersion is the file of a bundle naming its version.
const BundleVersion = "VERSION"

// What InstallPackaged did.
const (
	PackagedNothing  = ""         // the slots hold this version or a newer one, or an update is under way
	PackagedFactory  = "factory"  // fresh slots: the bundle is slot a
	PackagedUpgraded = "upgraded" // a newer package: the bundle is the slot not booted, switched to
)

// InstallPackaged installs the bundle a package ships: into slot a of
// fresh slots under dir (the first start), or, when the package brought a
// newer version than the booted slot holds (an upgrade by apt) and no
// update is under way, into the other slot, which then boots (committed:
// an administrator's upgrade is no trial). A version is the bundle's
// VERSION file; version is the package's, bundle makes its bytes (only
// called when they are needed). It returns what it did.
func InstallPackaged(fsys durable.FS, dir, version string, bundle func() ([]byte, error)) (string, error) {
	s := AppSlots(fsys, dir)
	env, err := s.Read()
	if err != nil {
		if _, serr := fsys.Size(s.Env.Copies[0].Device); !durable.IsNotExist(serr) {
			return PackagedNothing, fmt.Errorf("ota: %s: boot environment unreadable, not overwritten: %w", dir, err)
		}
		b, err := bundle()
		if err != nil {
			return PackagedNothing, err
		}
		return PackagedFactory, InstallFactory(fsys, dir, b)
	}
	have, _ := fsys.ReadFile(path.Join(s.Tree, env.Slot, BundleVersion))
	if CompareVersions(strings.TrimSpace(version), strings.TrimSpace(string(have))) <= 0 || env.Trial {
		return PackagedNothing, nil
	}
	if st, err := loadState(fsys, dir); err != nil || !st.Done() {
		return PackagedNothing, err // an update is under way: it decides
	}
	b, err := bundle()
	if err != nil {
		return PackagedNothing, err
	}
	if want, err := tarMember(b, BundleVersion); err != nil || strings.TrimSpace(string(want)) != strings.TrimSpace(version) {
		return PackagedNothing, fmt.Errorf("%w: the bundle's %s is not %q (%v)", ErrBundle, BundleVersion, version, err)
	}
	slot := Other(env.Slot)
	if err := durable.WriteFile(fsys, s.Image[slot], b); err != nil {
		return PackagedNothing, err
	}
	tree, tmp := path.Join(s.Tree, slot), path.Join(s.Tree, slot+".new")
	for _, d := range []string{tmp, tree} {
		if err := fsys.RemoveAll(d); err != nil {
			return PackagedNothing, err
		}
	}
	if err := unpackTar(fsys, bytes.NewReader(b), tmp); err != nil {
		return PackagedNothing, err
	}
	if err := fsys.Rename(tmp, tree); err != nil {
		return PackagedNothing, err
	}
	if err := fsys.SyncDir(s.Tree); err != nil {
		return PackagedNothing, err
	}
	idx, err := blocks.Build(bytes.NewReader(b), blocks.DefaultSize)
	if err != nil {
		return PackagedNothing, err
	}
	if err := durable.WriteFile(fsys, path.Join(dir, "index-"+slot+".json"), idx.Marshal()); err != nil {
		return PackagedNothing, err
	}
	return PackagedUpgraded, s.set(map[string]string{VarSlot: slot, VarUpgrade: "0", VarBootCount: "0", VarRollback: ""})
}

// tarMember returns a regular file of an uncompressed tar.
func tarMember(b []byte, name string) ([]byte, error) {
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("%w: no %s", ErrBundle, name)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBundle, err)
		}
		if path.Clean(h.Name) == name && h.Typeflag == tar.TypeReg {
			if h.Size > 4096 {
				return nil, fmt.Errorf("%w: %s of %d bytes", ErrBundle, name, h.Size)
			}
			return io.ReadAll(tr)
		}
	}
}

// TarFolder makes a bundle of the regular files below dir, in name order
// (the same folder gives the same bytes): what a package ships as its
// factory bundle is a folder (einwurfd, VERSION, ...), so the binary is
// not shipped twice.
func TarFolder(dir string) ([]byte, error) {
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return nil
		case !d.Type().IsRegular():
			return fmt.Errorf("%w: %s is not a regular file", ErrBundle, p)
		}
		names = append(names, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%w: %s is empty", ErrBundle, dir)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range names {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		rel, _ := filepath.Rel(dir, p)
		h := &tar.Header{Name: filepath.ToSlash(rel), Mode: int64(fi.Mode().Perm()), Size: fi.Size(),
			ModTime: fi.ModTime().UTC().Truncate(1e9), Typeflag: tar.TypeReg, Format: tar.FormatUSTAR}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		_, err = io.Copy(tw, f)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

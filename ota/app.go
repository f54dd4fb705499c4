package ota

import (
	"bytes"
	"fmt"
	"path/filepath"

	"github.com/einwurf/einwurf/ota/durable"
	"github.com/einwurf/einwurf/ota/ubootenv"
	"github.com/einwurf/einwurf/wire/blocks"
)

// Environment variables the application launcher sets for the program it
// starts.
const (
	EnvSlot = "EINWURF_SLOT"    // the slot booted ("a" or "b")
	EnvDir  = "EINWURF_OTA_DIR" // the application slots' folder
)

// AppEnvSize is the size of each copy of the application slots' boot
// environment.
const AppEnvSize = 0x2000

// AppSlots returns the application slots under dir: boot.env (the boot
// environment, two copies), a.img and b.img (the bundles as fetched),
// tree/a and tree/b (unpacked).
func AppSlots(fsys durable.FS, dir string) Slots {
	env := filepath.Join(dir, "boot.env")
	return Slots{FS: fsys, Kind: KindBundle, Tree: filepath.Join(dir, "tree"),
		Env: ubootenv.Config{Copies: []ubootenv.Location{
			{Device: env, Offset: 0, Size: AppEnvSize}, {Device: env, Offset: AppEnvSize, Size: AppEnvSize}}},
		Image: map[string]string{"a": filepath.Join(dir, "a.img"), "b": filepath.Join(dir, "b.img")}}
}

// Binary returns the path of a slot's program.
func (s Slots) Binary(slot string) string { return filepath.Join(s.Tree, slot, BundleBinary) }

// InstallFactory puts a bundle into slot a of fresh application slots
// under dir and makes a boot (what the Debian package or the image build
// does once). It refuses when the slots exist already.
func InstallFactory(fsys durable.FS, dir string, bundle []byte) error {
	s := AppSlots(fsys, dir)
	if _, err := s.Read(); err == nil {
		return fmt.Errorf("ota: %s holds application slots already", dir)
	}
	for _, d := range []string{dir, s.Tree} {
		if err := fsys.MkdirAll(d); err != nil {
			return err
		}
	}
	if err := durable.WriteFile(fsys, s.Image["a"], bundle); err != nil {
		return err
	}
	if err := fsys.RemoveAll(filepath.Join(s.Tree, "a")); err != nil {
		return err
	}
	if err := unpackTar(fsys, bytes.NewReader(bundle), filepath.Join(s.Tree, "a")); err != nil {
		return err
	}
	if err := fsys.SyncDir(s.Tree); err != nil {
		return err
	}
	idx, err := blocks.Build(bytes.NewReader(bundle), blocks.DefaultSize)
	if err != nil {
		return err
	}
	if err := durable.WriteFile(fsys, filepath.Join(dir, "index-a.json"), idx.Marshal()); err != nil {
		return err
	}
	if err := fsys.MkdirAll(filepath.Dir(s.Env.Copies[0].Device)); err != nil {
		return err
	}
	return s.Init("a")
}

// RootfsSlots returns the root file system pair: partitions a and b (block
// devices, or files in a test) switched through the U-Boot environment
// that env (fw_env.config) describes.
func RootfsSlots(fsys durable.FS, env ubootenv.Config, partA, partB string) Slots {
	return Slots{FS: fsys, Kind: KindRootfs, Env: env, Image: map[string]string{"a": partA, "b": partB}}
}

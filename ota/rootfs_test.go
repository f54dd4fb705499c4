package ota

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/einwurf/einwurf/internal/testtool"
	"github.com/einwurf/einwurf/ota/durable"
	"github.com/einwurf/einwurf/ota/internal/tuftest"
	"github.com/einwurf/einwurf/ota/tuf"
	"github.com/einwurf/einwurf/ota/ubootenv"
	"github.com/einwurf/einwurf/ota/ubootenv/envtest"
	"github.com/einwurf/einwurf/wire"
	"github.com/einwurf/einwurf/wire/blocks"
)

// A root file system update through the U-Boot environment, every change
// of which the real fw_printenv reads back: the switch puts slot b on
// trial, the boot (boot.cmd's logic) counts, a good version commits, a bad
// one falls back to a. A root file system flashed at the factory has no
// block index: the updater indexes the running partition and still
// fetches only the changed blocks.
func TestRootfsThroughUBootEnv(t *testing.T) {
	testtool.NeedTool(t, "fw_printenv")
	for _, tc := range []struct{ healthy, factory bool }{{true, false}, {false, false}, {true, true}} {
		healthy := tc.healthy
		t.Run(fmt.Sprintf("healthy=%v,factory=%v", healthy, tc.factory), func(t *testing.T) {
			dir := t.TempDir()
			fsys := durable.OS{}
			dev := filepath.Join(dir, "mmcblk0")
			if err := os.WriteFile(dev, make([]byte, 0x20000), 0o644); err != nil {
				t.Fatal(err)
			}
			conf := fmt.Sprintf("%s 0x10000 0x4000\n%s 0x14000 0x4000\n", dev, dev)
			confPath := filepath.Join(dir, "fw_env.config")
			os.WriteFile(confPath, []byte(conf), 0o644)
			cfg, _ := ubootenv.ParseConfig([]byte(conf))
			fw := func() map[string]string { return envtest.Printenv(t, confPath) }
			partA, partB := filepath.Join(dir, "vda2"), filepath.Join(dir, "vda3")
			const partSize = 3 << 20
			oldImg := bytes.Repeat([]byte("rootfs 1.0 "), 200000)[:2<<20]
			os.WriteFile(partA, append(oldImg, make([]byte, partSize-len(oldImg))...), 0o644)
			os.WriteFile(partB, make([]byte, partSize), 0o644)
			slots := RootfsSlots(fsys, cfg, partA, partB)
			if err := slots.Init("a"); err != nil {
				t.Fatal(err)
			}
			if m := fw(); m[VarSlot] != "a" || m[VarUpgrade] != "0" || m[VarBootLimit] != "3" {
				t.Fatalf("initial env %v", m)
			}
			idx, _ := blocks.Build(bytes.NewReader(oldImg), blocks.DefaultSize)
			os.MkdirAll(filepath.Join(dir, "ota", "tuf"), 0o755)
			if !tc.factory {
				durable.WriteFile(fsys, filepath.Join(dir, "ota", "index-a.json"), idx.Marshal())
			}

			repo := tuftest.New(t, 3, 2, t0)
			durable.WriteFile(fsys, filepath.Join(dir, "ota", "tuf", "root.json"), repo.RootBytes())
			newImg := append([]byte(nil), oldImg...)
			copy(newImg[100000:], "rootfs 2.0")
			newImg = append(newImg, bytes.Repeat([]byte{7}, 300000)...)
			nidx, _ := blocks.Build(bytes.NewReader(newImg), blocks.DefaultSize)
			repo.AddTarget("rootfs-2.0.img.blocks", nidx.Marshal(), nil)
			repo.AddTarget("rootfs-2.0.img", newImg, Custom{Version: "2.0", Kind: KindRootfs, Blocks: "rootfs-2.0.img.blocks"})
			repo.Publish()
			src := &memSource{files: repo.TargetFiles}

			updater := func(booted, version string) *Updater {
				tc, err := tuf.New(fsys, filepath.Join(dir, "ota", "tuf"), repo.Fetcher(tuf.ErrNotFound, tuf.ErrTooLong), func() time.Time { return t0 })
				if err != nil {
					t.Fatal(err)
				}
				u, err := New(Config{FS: fsys, Dir: filepath.Join(dir, "ota"), Slots: slots, TUF: tc, Source: src,
					Booted: booted, Version: version, Now: func() time.Time { return t0 },
					Health: func(context.Context) error {
						if !healthy {
							return errors.New("scanner")
						}
						return nil
					},
					Restart: func() error { return errRestart }})
				if err != nil {
					t.Fatal(err)
				}
				return u
			}
			u := updater("a", "1.0")
			err := u.Offer(context.Background(), wire.UpdateOffer{RolloutID: "r", Target: "rootfs-2.0.img", Version: "2.0", Kind: KindRootfs})
			if !errors.Is(err, errRestart) {
				t.Fatalf("offer: %v", err)
			}
			if m := fw(); m[VarSlot] != "b" || m[VarUpgrade] != "1" || m[VarBootCount] != "0" {
				t.Fatalf("after the switch fw_printenv says %v", m)
			}
			got, _ := os.ReadFile(partB)
			if !bytes.Equal(got[:len(newImg)], newImg) {
				t.Fatal("partition b does not hold the new image")
			}
			if u.Stats.Fetched > int64(len(newImg))/2 {
				t.Fatalf("fetched %d of %d bytes (the unchanged blocks come from slot a)", u.Stats.Fetched, len(newImg))
			}
			// The boot loader boots b on trial and counts.
			slot, err := slots.Boot()
			if err != nil || slot != "b" {
				t.Fatalf("boot: %s %v", slot, err)
			}
			if m := fw(); m[VarBootCount] != "1" {
				t.Fatalf("after one boot on trial fw_printenv says %v", m)
			}
			u = updater("b", "2.0")
			err = u.Resume(context.Background())
			m := fw()
			if healthy {
				if err != nil || u.State().Phase != wire.UpdateCommitted || m[VarSlot] != "b" || m[VarUpgrade] != "0" {
					t.Fatalf("commit: %v %s, fw_printenv %v", err, u.State().Phase, m)
				}
				return
			}
			if !errors.Is(err, errRestart) || u.State().Phase != wire.UpdateRolledBack || u.State().Reason != "health:scanner" {
				t.Fatalf("rollback: %v %+v", err, u.State())
			}
			if m[VarSlot] != "a" || m[VarUpgrade] != "0" {
				t.Fatalf("after the rollback fw_printenv says %v", m)
			}
		})
	}
}

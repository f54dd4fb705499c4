package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/einwurf/einwurf/central/release"
	"github.com/einwurf/einwurf/internal/testtool"
	"github.com/einwurf/einwurf/ota"
	"github.com/einwurf/einwurf/wire"
)

// TestCheckUpdatesNow: the dashboard's "check for updates now" reaches the
// kiosk's updater (the OTA side's hook) and comes back in the audit log:
// with nothing newer in the repository it is done, "no-update"; once a
// newer root file system is there, the same command starts installing it
// (without any rollout) up to the switch and its reboot.
func TestCheckUpdatesNow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	v1 := bytes.Repeat([]byte("rootfs 1.0 block\n"), 1<<16)
	b := newRootfsBoard(t, dir, v1, "http")
	repo := release.Repo{Dir: filepath.Join(b.dataDir, "central", "tuf"), Keys: filepath.Join(b.dataDir, "central", "tuf-keys")}
	must(t, repo.Init(3, 2))
	root, _ := repo.RootJSON()
	must(t, os.WriteFile(filepath.Join(dir, "sys", "root.json"), root, 0o644))

	s, err := startSim(ctx, flags{demo: true, data: b.dataDir, config: b.configFile}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, m, id := s.dashboard.Store, s.dashboard.Monitor, s.app().KioskID
	testtool.WaitFor(t, 60*time.Second, "the kiosk's birth", func() bool {
		k, err := st.Kiosk(ctx, id)
		return err == nil && k.Online
	})
	check := func(detail string) {
		t.Helper()
		recs, err := m.Send(ctx, "test", []string{id}, wire.CmdCheckUpdates, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r := answered(t, st, id, recs[0].Seq); r.Result != wire.ResultDone || r.Detail != detail {
			t.Fatalf("check for updates: %+v, want done (%s)", r, detail)
		}
	}
	check("no-update")

	v2 := bytes.Repeat([]byte("rootfs 2.0 block\n"), 1<<16)
	f := filepath.Join(dir, "rootfs-2.0.img")
	must(t, os.WriteFile(f, v2, 0o644))
	must(t, repo.Add("rootfs-2.0.img", f, "2.0", ota.KindRootfs))
	check("")
	select {
	case <-s.restart:
	case <-time.After(3 * time.Minute):
		t.Fatalf("no switch to 2.0 after the check (state %+v)", b.state())
	}
	if got, _ := os.ReadFile(b.partB); !bytes.Equal(got[:len(v2)], v2) {
		t.Fatal("partition b does not hold rootfs 2.0")
	}
}

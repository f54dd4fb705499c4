package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/einwurf/einwurf/central/release"
	"github.com/einwurf/einwurf/central/store"
	"github.com/einwurf/einwurf/central/store/sqlite"
	"github.com/einwurf/einwurf/internal/testtool"
	"github.com/einwurf/einwurf/ota"
	"github.com/einwurf/einwurf/ota/durable"
	"github.com/einwurf/einwurf/ota/ubootenv"
	"github.com/einwurf/einwurf/ota/ubootenv/envtest"
	"github.com/einwurf/einwurf/wire"
)

// rootfsBoard is a board's side of root file system updates, file-backed:
// a disk with U-Boot's raw environment block (the virtual board's layout,
// vm/fw_env.config), partitions a and b, /proc/cmdline and /etc/os-release.
type rootfsBoard struct {
	t                              *testing.T
	conf, partA, partB             string
	cmdline, osRelease             string
	slots                          ota.Slots
	configFile, dataDir, centralDB string
}

func newRootfsBoard(t *testing.T, dir string, image []byte, transport string) *rootfsBoard {
	testtool.NeedTool(t, "fw_printenv")
	b := &rootfsBoard{t: t}
	sys := filepath.Join(dir, "sys")
	os.MkdirAll(sys, 0o755)
	disk := filepath.Join(sys, "disk.img")
	must(t, os.WriteFile(disk, make([]byte, 2<<20), 0o644))
	b.conf = filepath.Join(sys, "fw_env.config")
	conf := fmt.Sprintf("%s 0x100000 0x4000\n", disk)
	must(t, os.WriteFile(b.conf, []byte(conf), 0o644))
	env, err := ubootenv.ParseConfig([]byte(conf))
	must(t, err)
	b.partA, b.partB = filepath.Join(sys, "vda2"), filepath.Join(sys, "vda3")
	must(t, os.WriteFile(b.partA, append(bytes.Clone(image), make([]byte, 4<<20-len(image))...), 0o644))
	must(t, os.WriteFile(b.partB, make([]byte, 4<<20), 0o644))
	b.slots = ota.RootfsSlots(durable.OS{}, env, b.partA, b.partB)
	must(t, b.slots.Init("a"))
	b.cmdline, b.osRelease = filepath.Join(sys, "cmdline"), filepath.Join(sys, "os-release")
	b.boot("a", "1.0")
	b.dataDir = filepath.Join(dir, "data")
	b.configFile = filepath.Join(sys, "einwurfd.json")
	cfg, _ := json.Marshal(map[string]any{"update": map[string]any{
		// The simulation serves its own repository; these name nothing.
		"metadata_url": "http://127.0.0.1:1/tuf/metadata/", "targets_url": "http://127.0.0.1:1/tuf/targets/",
		"root": filepath.Join(sys, "root.json"), "transport": transport,
		// Room for the central's acknowledgement of the trial under
		// emulation (make test-arm64 runs this ~10× slower).
		"health_deadline": "2m",
		"rootfs": map[string]string{"slot_a": b.partA, "slot_b": b.partB, "fw_env_config": b.conf,
			"cmdline": b.cmdline, "version_file": b.osRelease}}})
	must(t, os.WriteFile(b.configFile, cfg, 0o644))
	b.centralDB = filepath.Join(b.dataDir, "central", "central.db")
	must(t, os.MkdirAll(filepath.Join(b.dataDir, "central"), 0o700))
	return b
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// boot is what the kernel and the root file system of slot say: the
// command line boot.cmd makes, and the image's version.
func (b *rootfsBoard) boot(slot, version string) {
	part := map[string]string{"a": "2", "b": "3"}[slot]
	must(b.t, os.WriteFile(b.cmdline, []byte("console=ttyAMA0 root=/dev/vda"+part+" rootwait ro einwurf.slot="+slot+"\n"), 0o644))
	must(b.t, os.WriteFile(b.osRelease, []byte("ID=einwurf\nIMAGE_VERSION="+version+"\n"), 0o644))
}

func (b *rootfsBoard) wantEnv(when string, want map[string]string) {
	b.t.Helper()
	got := envtest.Printenv(b.t, b.conf)
	for k, v := range want {
		if got[k] != v {
			b.t.Fatalf("%s: fw_printenv says %s=%q, want %q (all: %v)", when, k, got[k], v, got)
		}
	}
}

// start runs the simulated appliance on this board until it asks for the
// reboot into the switched slot (then it is closed), or until cond holds.
func (b *rootfsBoard) start(ctx context.Context, what string, cond func() bool) (rebooted bool) {
	b.t.Helper()
	s, err := startSim(ctx, flags{demo: true, data: b.dataDir, config: b.configFile}, testLog(b.t))
	if err != nil {
		b.t.Fatal(err)
	}
	defer s.Close()
	end := time.After(3 * time.Minute)
	for {
		select {
		case <-s.restart:
			return true
		case <-end:
			b.t.Fatalf("%s: not within 3 minutes", what)
		case <-time.After(100 * time.Millisecond):
			if cond != nil && cond() {
				return false
			}
		}
	}
}

func (b *rootfsBoard) rollout(ctx context.Context, repo release.Repo, id, target string) {
	st, err := sqlite.Open(ctx, b.centralDB, sqlite.Options{})
	must(b.t, err)
	defer st.Close()
	m := &release.Manager{Store: st, Repo: repo}
	must(b.t, m.Start(ctx, store.Rollout{ID: id, Target: target, Percent: 100, FailThreshold: 1}))
}

func (b *rootfsBoard) kioskState(ctx context.Context, id string) string {
	st, err := sqlite.Open(ctx, b.centralDB, sqlite.Options{})
	if err != nil {
		return ""
	}
	defer st.Close()
	ks, _ := st.RolloutKiosks(ctx, id)
	for _, s := range ks {
		return s
	}
	return ""
}

func (b *rootfsBoard) state() ota.State {
	var st ota.State
	raw, _ := os.ReadFile(filepath.Join(b.dataDir, "rootfs-update", "state.json"))
	json.Unmarshal(raw, &st)
	return st
}

// A root file system update wired through the appliance (einwurf-sim on
// file-backed partitions and U-Boot environment, every change read back
// with the real fw_printenv): a rollout of rootfs 2.0 is offered over MQTT,
// written into partition b, switched in the environment, the board reboots
// through Parts.Reboot; booted from b (einwurf.slot=b, IMAGE_VERSION=2.0)
// the health check commits and the central records it. Then 3.0 is
// written into a and switched, but never boots to its health check: the
// boot counter falls back to b, and the kiosk reports the rollback.
func TestRootfsUpdateThroughTheAppliance(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	dir := t.TempDir()
	img := func(version string, n int) []byte {
		var buf bytes.Buffer
		for i := 0; buf.Len() < n; i++ {
			fmt.Fprintf(&buf, "rootfs block %08d of the base image\n", i)
		}
		b := buf.Bytes()[:n]
		copy(b[300000:], "this is rootfs "+version) // one block differs
		return b
	}
	v1, v2, v3 := img("1.0", 3<<20/2), img("2.0", 3<<20/2), img("3.0", 3<<20/2)
	b := newRootfsBoard(t, dir, v1, "http")
	repo := release.Repo{Dir: filepath.Join(b.dataDir, "central", "tuf"), Keys: filepath.Join(b.dataDir, "central", "tuf-keys")}
	must(t, repo.Init(3, 2))
	root, _ := repo.RootJSON()
	must(t, os.WriteFile(filepath.Join(dir, "sys", "root.json"), root, 0o644))
	for v, p := range map[string][]byte{"2.0": v2, "3.0": v3} {
		f := filepath.Join(dir, "rootfs-"+v+".img")
		must(t, os.WriteFile(f, p, 0o644))
		must(t, repo.Add("rootfs-"+v+".img", f, v, ota.KindRootfs))
	}

	// 1.0 on slot a takes the offer of 2.0 and reboots into b on trial.
	b.rollout(ctx, repo, "r2", "rootfs-2.0.img")
	if !b.start(ctx, "switch to 2.0", nil) {
		t.Fatal("no reboot")
	}
	b.wantEnv("after the switch", map[string]string{ota.VarSlot: "b", ota.VarUpgrade: "1", ota.VarBootCount: "0"})
	if got, _ := os.ReadFile(b.partB); !bytes.Equal(got[:len(v2)], v2) {
		t.Fatal("partition b does not hold rootfs 2.0")
	}
	if st := b.state(); st.Phase != wire.UpdateSwitched || st.Slot != "b" || st.FromVersion != "1.0" {
		t.Fatalf("state after the switch: %+v", st)
	}

	// U-Boot boots b on trial (boot.cmd counts); the health check commits.
	if slot, err := b.slots.Boot(); err != nil || slot != "b" {
		t.Fatalf("boot: %s %v", slot, err)
	}
	b.wantEnv("booting b on trial", map[string]string{ota.VarSlot: "b", ota.VarBootCount: "1"})
	b.boot("b", "2.0")
	b.start(ctx, "2.0 committed and reported", func() bool {
		return b.state().Phase == wire.UpdateCommitted && b.kioskState(ctx, "r2") == release.KioskCommitted
	})
	b.wantEnv("after the commit", map[string]string{ota.VarSlot: "b", ota.VarUpgrade: "0", ota.VarBootCount: "0"})

	// 3.0 is written into a (the slot not running) and switched ...
	b.rollout(ctx, repo, "r3", "rootfs-3.0.img")
	if !b.start(ctx, "switch to 3.0", nil) {
		t.Fatal("no reboot for 3.0")
	}
	b.wantEnv("after the switch to 3.0", map[string]string{ota.VarSlot: "a", ota.VarUpgrade: "1"})
	// ... but its kernel dies each time before einwurfd starts: after
	// bootlimit boots on trial U-Boot falls back to b.
	for i := 0; i < ota.DefaultBootLimit; i++ {
		if slot, _ := b.slots.Boot(); slot != "a" {
			t.Fatalf("boot %d on trial: slot %s", i+1, slot)
		}
	}
	if slot, _ := b.slots.Boot(); slot != "b" {
		t.Fatalf("past the boot limit: slot %s", slot)
	}
	b.wantEnv("after the fall-back", map[string]string{ota.VarSlot: "b", ota.VarUpgrade: "0", ota.VarRollback: "1"})
	b.boot("b", "2.0")
	b.start(ctx, "3.0 rolled back and reported", func() bool {
		return b.state().Phase == wire.UpdateRolledBack && b.kioskState(ctx, "r3") == release.KioskRolledBack
	})
	if st := b.state(); st.Reason != "boot-limit" || st.Version != "3.0" {
		t.Fatalf("rolled back with %+v", st)
	}
}

// "Check for updates now" through the real command path: the dashboard's
// signed command reaches the kiosk over MQTT, the updater asks the TUF
// repository now; with nothing newer the result is done/"no-update";
// with a newer image in the repository (and no rollout) the result is
// done and the normal flow follows: download, switch, reboot, trial boot,
// the central's acknowledgement of the kiosk's own update, commit. With
// update.transport "mqtt" the same runs with metadata and image fetched
// in chunks over the broker (the simulation's release server answers
// them), none over HTTP.
func TestCheckForUpdatesNow(t *testing.T) {
	for _, transport := range []string{"http", "mqtt"} {
		t.Run(transport, func(t *testing.T) { checkForUpdatesNow(t, transport) })
	}
}

func checkForUpdatesNow(t *testing.T, transport string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	v1 := bytes.Repeat([]byte("rootfs 1.0 check now\n"), 60000)
	b := newRootfsBoard(t, dir, v1, transport)
	repo := release.Repo{Dir: filepath.Join(b.dataDir, "central", "tuf"), Keys: filepath.Join(b.dataDir, "central", "tuf-keys")}
	must(t, repo.Init(3, 2))
	root, _ := repo.RootJSON()
	must(t, os.WriteFile(filepath.Join(dir, "sys", "root.json"), root, 0o644))

	s, err := startSim(ctx, flags{demo: true, data: b.dataDir, config: b.configFile}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	st, m, id := s.dashboard.Store, s.dashboard.Monitor, s.app().KioskID
	testtool.WaitFor(t, 60*time.Second, "the kiosk's birth", func() bool {
		k, err := st.Kiosk(ctx, id)
		return err == nil && k.Online
	})
	check := func() store.CommandRecord {
		t.Helper()
		recs, err := m.Send(ctx, "test", []string{id}, wire.CmdCheckUpdates, nil)
		if err != nil {
			t.Fatal(err)
		}
		return answered(t, st, id, recs[0].Seq)
	}
	if r := check(); r.Result != wire.ResultDone || r.Detail != "no-update" {
		t.Fatalf("check with nothing newer: %+v", r)
	}
	if st := b.state(); st.Phase != "" {
		t.Fatalf("a check that found nothing left state %+v", st)
	}

	v2 := bytes.Repeat([]byte("rootfs 2.0 check now\n"), 60000)
	f := filepath.Join(dir, "rootfs-2.0.img")
	must(t, os.WriteFile(f, v2, 0o644))
	must(t, repo.Add("rootfs-2.0.img", f, "2.0", ota.KindRootfs))
	// Now the check finds 2.0: done, and the update runs.
	if r := check(); r.Result != wire.ResultDone || r.Detail != "" {
		t.Fatalf("check with 2.0 in the repository: %+v", r)
	}
	select {
	case <-s.restart:
	case <-time.After(2 * time.Minute):
		t.Fatalf("no reboot after the check found 2.0 (state %+v)", b.state())
	}
	if n := s.fetchServed.Load(); (transport == "mqtt") != (n > int64(len(v2))/wire.FetchMaxChunk) {
		t.Fatalf("transport %s: %d chunk requests answered on the broker for an image of %d bytes", transport, n, len(v2))
	}
	s.Close()
	b.wantEnv("after the switch", map[string]string{ota.VarSlot: "b", ota.VarUpgrade: "1"})
	if st := b.state(); st.Phase != wire.UpdateSwitched || st.RolloutID != "" || st.Version != "2.0" {
		t.Fatalf("state after the switch: %+v", st)
	}
	b.slots.Boot()
	b.boot("b", "2.0")
	b.start(ctx, "2.0 committed after its trial", func() bool { return b.state().Phase == wire.UpdateCommitted })
	b.wantEnv("after the commit", map[string]string{ota.VarSlot: "b", ota.VarUpgrade: "0"})
	if got, _ := os.ReadFile(b.partB); !bytes.Equal(got[:len(v2)], v2) {
		t.Fatal("partition b does not hold rootfs 2.0")
	}
}

// setConfig changes the board's configuration file (section → value).
func (b *rootfsBoard) setConfig(section string, v any) {
	raw, err := os.ReadFile(b.configFile)
	must(b.t, err)
	var m map[string]any
	must(b.t, json.Unmarshal(raw, &m))
	m[section] = v
	raw, _ = json.Marshal(m)
	must(b.t, os.WriteFile(b.configFile, raw, 0o644))
}

// A root file system that boots but fails its health check is rolled back
// by the appliance itself: booted from b on trial, its check finds the
// disk in alarm (the spool's thresholds say so), reports health:disk,
// switches U-Boot back to a and reboots through Parts.Reboot; back on a
// the central records the rollback with that reason.
func TestRootfsHealthFailRollsBack(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	v1 := bytes.Repeat([]byte("rootfs 1.0 health\n"), 80000)
	v2 := bytes.Repeat([]byte("rootfs 2.0 health\n"), 80000)
	b := newRootfsBoard(t, dir, v1, "http")
	repo := release.Repo{Dir: filepath.Join(b.dataDir, "central", "tuf"), Keys: filepath.Join(b.dataDir, "central", "tuf-keys")}
	must(t, repo.Init(3, 2))
	root, _ := repo.RootJSON()
	must(t, os.WriteFile(filepath.Join(dir, "sys", "root.json"), root, 0o644))
	f := filepath.Join(dir, "rootfs-2.0.img")
	must(t, os.WriteFile(f, v2, 0o644))
	must(t, repo.Add("rootfs-2.0.img", f, "2.0", ota.KindRootfs))
	b.rollout(ctx, repo, "r2", "rootfs-2.0.img")
	if !b.start(ctx, "switch to 2.0", nil) {
		t.Fatal("no reboot")
	}
	b.wantEnv("after the switch", map[string]string{ota.VarSlot: "b", ota.VarUpgrade: "1"})

	// 2.0 boots on trial, but the disk is in alarm there.
	b.slots.Boot()
	b.boot("b", "2.0")
	b.setConfig("spool", map[string]int64{"warn_free": 1 << 60, "alarm_free": 1 << 60})
	if !b.start(ctx, "2.0's failed health check", nil) {
		t.Fatalf("no reboot after the failed health check (state %+v)", b.state())
	}
	if st := b.state(); st.Phase != wire.UpdateRolledBack || st.Reason != "health:disk" {
		t.Fatalf("after the failed check: %+v", st)
	}
	b.wantEnv("after the fall-back", map[string]string{ota.VarSlot: "a", ota.VarUpgrade: "0"})

	// U-Boot boots a again; the central learns why.
	b.setConfig("spool", map[string]int64{"warn_free": 512 << 20, "alarm_free": 128 << 20})
	if slot, _ := b.slots.Boot(); slot != "a" {
		t.Fatalf("boot after the rollback: %s", slot)
	}
	b.boot("a", "1.0")
	b.start(ctx, "the rollback recorded by the central", func() bool {
		return b.kioskState(ctx, "r2") == release.KioskRolledBack
	})
}

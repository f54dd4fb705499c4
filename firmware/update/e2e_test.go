package update_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/einwurf/einwurf/central/release"
	"github.com/einwurf/einwurf/central/store"
	"github.com/einwurf/einwurf/central/store/sqlite"
	"github.com/einwurf/einwurf/ota"
	"github.com/einwurf/einwurf/ota/durable"
	"github.com/einwurf/einwurf/wire"
)

// moduleRoot returns the module's folder.
func moduleRoot(t *testing.T) string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// build builds a package of the module with extra go build arguments.
func build(t *testing.T, root, pkg, out string, args ...string) {
	t.Helper()
	cmd := exec.Command("go", append(append([]string{"build", "-o", out}, args...), pkg)...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

// bundle makes an application bundle of one program.
func bundle(t *testing.T, bin, version string) []byte {
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "VERSION", Mode: 0o644, Size: int64(len(version)), Typeflag: tar.TypeReg})
	tw.Write([]byte(version))
	tw.WriteHeader(&tar.Header{Name: ota.BundleBinary, Mode: 0o755, Size: int64(len(b)), Typeflag: tar.TypeReg})
	tw.Write(b)
	tw.Close()
	return buf.Bytes()
}

// kioskRun is einwurf-launch run as systemd would: restarted when it
// exits, until done says so (bounded in starts and time).
type kioskRun struct {
	t           *testing.T
	launch, app string
	data, logs  string
	starts      int
	cmd         *exec.Cmd
	exited      chan error
}

func (k *kioskRun) start() {
	k.starts++
	logf, err := os.Create(filepath.Join(k.logs, "start-"+string(rune('0'+k.starts))+".log"))
	if err != nil {
		k.t.Fatal(err)
	}
	k.cmd = exec.Command(k.launch, "-dir", k.app, "--", "-data", k.data, "-listen", "127.0.0.1:0", "-broker", "127.0.0.1:0", "-dashboard", "127.0.0.1:0")
	k.cmd.Stdout, k.cmd.Stderr = logf, logf
	// The kiosk dies with the test process, even when that is killed.
	k.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := k.cmd.Start(); err != nil {
		k.t.Fatal(err)
	}
	k.exited = make(chan error, 1)
	go func() { k.exited <- k.cmd.Wait(); logf.Close() }()
}

// until runs the kiosk (restarting it when it exits) until cond holds.
func (k *kioskRun) until(what string, cond func() bool) {
	k.t.Helper()
	deadline := time.Now().Add(4 * time.Minute)
	if k.cmd == nil {
		k.start()
	}
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		select {
		case <-k.exited:
			if k.starts >= 12 {
				k.t.Fatalf("%s: kiosk started %d times", what, k.starts)
			}
			k.start()
		case <-time.After(200 * time.Millisecond):
		}
	}
	k.t.Fatalf("%s: not within 4 minutes (logs in %s)", what, k.logs)
}

func (k *kioskRun) stop() {
	if k.cmd != nil && k.cmd.ProcessState == nil {
		k.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-k.exited:
		case <-time.After(20 * time.Second):
			k.cmd.Process.Kill()
			<-k.exited
		}
	}
	k.cmd = nil
}

func state(t *testing.T, app string) ota.State {
	b, err := os.ReadFile(filepath.Join(app, "state.json"))
	if err != nil {
		return ota.State{}
	}
	var s ota.State
	json.Unmarshal(b, &s)
	return s
}

// Two versions of the appliance (einwurf-sim, einwurfd's simulated
// composition) built in the test: 1.0.0 installed in slot a is updated to
// 1.1.0 end to end (release, signed offer over MQTT, TUF, ranged download,
// switch, restart by the launcher, health check, commit, report); then a
// 1.2.0 whose UI fails its health check rolls back by itself to 1.1.0.
func TestEndToEndUpdateAndRollback(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the appliance three times")
	}
	root := moduleRoot(t)
	tmp := t.TempDir()
	launch := filepath.Join(tmp, "einwurf-launch")
	build(t, root, "./ota/cmd/einwurf-launch", launch)
	bins := map[string]string{}
	for _, v := range []string{"1.0.0", "1.1.0"} {
		bins[v] = filepath.Join(tmp, v, "einwurfd")
		build(t, root, "./firmware/cmd/einwurf-sim", bins[v], "-ldflags", "-X main.version="+v)
	}
	// 1.2.0: a regression in the UI (its health endpoint fails), built
	// from the same tree with one file replaced.
	src, err := os.ReadFile(filepath.Join(root, "kiosk/ui/ui.go"))
	if err != nil {
		t.Fatal(err)
	}
	good := `w.Write([]byte("ok\n"))`
	if !bytes.Contains(src, []byte(good)) {
		t.Fatal("kiosk/ui/ui.go: health handler not found")
	}
	bad := bytes.Replace(src, []byte(good), []byte(`http.Error(w, "broken", http.StatusInternalServerError)`), 1)
	badFile := filepath.Join(tmp, "ui_bad.go")
	os.WriteFile(badFile, bad, 0o644)
	overlay, _ := json.Marshal(map[string]any{"Replace": map[string]string{filepath.Join(root, "kiosk/ui/ui.go"): badFile}})
	os.WriteFile(filepath.Join(tmp, "overlay.json"), overlay, 0o644)
	bins["1.2.0"] = filepath.Join(tmp, "1.2.0", "einwurfd")
	build(t, root, "./firmware/cmd/einwurf-sim", bins["1.2.0"], "-ldflags", "-X main.version=1.2.0",
		"-overlay", filepath.Join(tmp, "overlay.json"))

	data, app, logs := filepath.Join(tmp, "data"), filepath.Join(tmp, "app"), filepath.Join(tmp, "logs")
	os.MkdirAll(logs, 0o755)
	t.Cleanup(func() {
		if t.Failed() {
			logLines(t, logs)
			b, _ := os.ReadFile(filepath.Join(logs, "start-1.log"))
			t.Logf("start-1.log:\n%s", b)
		}
	})
	repo := release.Repo{Dir: filepath.Join(data, "central", "tuf"), Keys: filepath.Join(data, "central", "tuf-keys")}
	if err := repo.Init(3, 2); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1.1.0", "1.2.0"} {
		p := filepath.Join(tmp, "einwurf-"+v+".tar")
		os.WriteFile(p, bundle(t, bins[v], v), 0o644)
		if err := repo.Add("einwurf-"+v+".tar", p, v, "bundle"); err != nil {
			t.Fatal(err)
		}
	}
	if err := ota.InstallFactory(durable.OS{}, app, bundle(t, bins["1.0.0"], "1.0.0")); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dbPath := filepath.Join(data, "central", "central.db")
	rollout := func(id, target string) {
		st, err := sqlite.Open(ctx, dbPath, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		m := &release.Manager{Store: st, Repo: repo}
		if err := m.Start(ctx, store.Rollout{ID: id, Target: target, Group: "", Percent: 100, FailThreshold: 1}); err != nil {
			t.Fatal(err)
		}
	}
	kioskState := func(id string) string {
		st, err := sqlite.Open(ctx, dbPath, sqlite.Options{})
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
	os.MkdirAll(filepath.Join(data, "central"), 0o700)
	rollout("r1", "einwurf-1.1.0.tar")
	k := &kioskRun{t: t, launch: launch, app: app, data: data, logs: logs}
	defer k.stop()
	k.until("update to 1.1.0 committed and reported", func() bool {
		return state(t, app).Phase == wire.UpdateCommitted && kioskState("r1") == release.KioskCommitted
	})
	slots := ota.AppSlots(durable.OS{}, app)
	env, err := slots.Read()
	if err != nil || env.Slot != "b" || env.Trial {
		t.Fatalf("after 1.1.0: env %+v %v", env, err)
	}
	if v, _ := os.ReadFile(filepath.Join(app, "tree", "b", "VERSION")); string(v) != "1.1.0" {
		t.Fatalf("slot b holds %q", v)
	}

	rollout("r2", "einwurf-1.2.0.tar")
	k.until("1.2.0 rolled back and reported", func() bool {
		return state(t, app).Phase == wire.UpdateRolledBack && kioskState("r2") == release.KioskRolledBack
	})
	st := state(t, app)
	if st.Reason != "health:ui" || st.Version != "1.2.0" {
		t.Fatalf("rolled back with %+v", st)
	}
	env, _ = slots.Read()
	if env.Slot != "b" || env.Trial {
		t.Fatalf("after the rollback: env %+v", env)
	}
	// The kiosk runs 1.1.0 again (the launcher starts slot b).
	k.stop()
	k.until("1.1.0 running again", func() bool {
		b, _ := os.ReadFile(filepath.Join(logs, "start-"+string(rune('0'+k.starts))+".log"))
		return bytes.Contains(b, []byte("Einwurf kiosk (simulation) 1.1.0"))
	})
}

// logLines prints the kiosk's update lines.
func logLines(t *testing.T, logs string) {
	names, _ := filepath.Glob(filepath.Join(logs, "start-*.log"))
	for _, n := range names {
		b, _ := os.ReadFile(n)
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "Einwurf kiosk") || strings.Contains(l, "ota:") || strings.Contains(l, "update") {
				t.Logf("%s: %s", filepath.Base(n), l)
			}
		}
	}
}

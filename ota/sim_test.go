package ota

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/einwurf/einwurf/ota/durable"
	"github.com/einwurf/einwurf/ota/durable/crashfs"
	"github.com/einwurf/einwurf/ota/internal/tuftest"
	"github.com/einwurf/einwurf/ota/tuf"
	"github.com/einwurf/einwurf/ota/ubootenv"
	"github.com/einwurf/einwurf/wire"
	"github.com/einwurf/einwurf/wire/blocks"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// makeBundle builds a bundle tar: einwurfd (its content names the version
// and whether it is healthy), VERSION, and filler of size bytes.
func makeBundle(t testing.TB, version string, healthy bool, filler int) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, b []byte, mode int64) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(b)
	}
	add("VERSION", []byte(version), 0o644)
	add(BundleBinary, []byte(fmt.Sprintf("einwurfd %s healthy=%v", version, healthy)), 0o755)
	r := rand.New(rand.NewPCG(1, 2)) // the same filler in every version: blocks to reuse
	fill := make([]byte, filler)
	for i := range fill {
		fill[i] = byte(r.Uint32())
	}
	add("assets/filler.bin", fill, 0o644)
	tw.Close()
	return buf.Bytes()
}

// memSource serves a repository's target files with Range semantics.
type memSource struct {
	files   map[string][]byte
	fetched int64
}

func (m *memSource) Range(_ context.Context, p string, off, n, total int64) (io.ReadCloser, error) {
	b, ok := m.files[p]
	if !ok {
		return nil, fmt.Errorf("%w: 404 %s", ErrFetch, p)
	}
	if int64(len(b)) != total {
		return nil, fmt.Errorf("%w: server has %d bytes, metadata says %d", ErrPayload, len(b), total)
	}
	if off+n > int64(len(b)) {
		return nil, fmt.Errorf("%w: range", ErrFetch)
	}
	m.fetched += n
	return io.NopCloser(bytes.NewReader(b[off : off+n])), nil
}

// world is one simulated kiosk with application slots on a crashfs, and a
// repository.
type world struct {
	t      *testing.T
	fs     *crashfs.FS
	repo   *tuftest.Repo
	src    *memSource
	slots  Slots
	now    time.Time
	boots  int
	name   string
	report []wire.UpdateReport
}

var errRestart = errors.New("restart")

func newWorld(t *testing.T) *world {
	w := &world{t: t, fs: crashfs.New(), now: t0}
	w.repo = tuftest.New(t, 3, 2, t0)
	w.src = &memSource{files: w.repo.TargetFiles}
	for _, d := range []string{"/boot", "/app/tree", "/ota/tuf"} {
		w.fs.MkdirAll(d)
	}
	cfg, err := ubootenv.ParseConfig([]byte("/boot/app.env 0x0 0x1000\n/boot/app.env 0x1000 0x1000\n"))
	if err != nil {
		t.Fatal(err)
	}
	w.slots = Slots{FS: w.fs, Kind: KindBundle, Env: cfg, Tree: "/app/tree",
		Image: map[string]string{"a": "/app/a.img", "b": "/app/b.img"}}
	if err := w.slots.Init("a"); err != nil {
		t.Fatal(err)
	}
	// Factory state: version 1.0.0 in slot a, as if installed.
	v1 := makeBundle(t, "1.0.0", true, 600<<10)
	if err := durable.WriteFile(w.fs, "/app/a.img", v1); err != nil {
		t.Fatal(err)
	}
	if err := unpackTar(w.fs, bytes.NewReader(v1), "/app/tree/a"); err != nil {
		t.Fatal(err)
	}
	idx, _ := blocks.Build(bytes.NewReader(v1), blocks.MinSize*4)
	durable.WriteFile(w.fs, "/ota/index-a.json", idx.Marshal())
	durable.WriteFile(w.fs, "/ota/tuf/root.json", w.repo.RootBytes())
	w.fs.SyncDir("/app/tree")
	w.fs.SyncDir("/app")
	return w
}

// release publishes a bundle as target name with its block index.
func (w *world) release(name string, bundle []byte, version string) {
	idx, err := blocks.Build(bytes.NewReader(bundle), blocks.MinSize*4)
	if err != nil {
		w.t.Fatal(err)
	}
	w.repo.AddTarget(name+".blocks", idx.Marshal(), nil)
	w.repo.AddTarget(name, bundle, Custom{Version: version, Kind: KindBundle, Blocks: name + ".blocks"})
	w.repo.Publish()
}

func (w *world) offer(name, version string) wire.UpdateOffer {
	return wire.UpdateOffer{KioskID: "k1", Seq: 1, RolloutID: "r1", Target: name, Version: version, Kind: KindBundle}
}

// boot is what the launcher and a fresh einwurfd do: count the boot, pick
// the slot, open the updater in the version found there.
func (w *world) boot(hook func(string) error) (*Updater, string) {
	w.boots++
	slot, err := w.slots.Boot()
	if err != nil {
		w.t.Fatalf("boot: %v", err)
	}
	version, err := w.fs.ReadFile(path.Join("/app/tree", slot, "VERSION"))
	if err != nil {
		w.t.Fatalf("%s: boot slot %s has no VERSION: %v", w.name, slot, err)
	}
	bin, _ := w.fs.ReadFile(path.Join("/app/tree", slot, BundleBinary))
	tc, err := tuf.New(w.fs, "/ota/tuf", w.repo.Fetcher(tuf.ErrNotFound, tuf.ErrTooLong), func() time.Time { return w.now })
	if err != nil {
		w.t.Fatal(err)
	}
	u, err := New(Config{FS: w.fs, Dir: "/ota", Slots: w.slots, TUF: tc, Source: w.src,
		Booted: slot, Version: string(version), Now: func() time.Time { return w.now },
		Health: func(context.Context) error {
			if strings.Contains(string(bin), "healthy=false") {
				return errors.New("ui-not-serving")
			}
			return nil
		},
		Restart: func() error { return errRestart },
		Report:  func(r wire.UpdateReport) { w.report = append(w.report, r) },
		Hook:    hook})
	if err != nil {
		w.t.Fatal(err)
	}
	return u, string(version)
}

// runToEnd boots until the machine rests (bounded), resuming each time.
func (w *world) runToEnd(offer *wire.UpdateOffer) (State, string) {
	for i := 0; i < 10; i++ {
		u, version := w.boot(nil)
		var err error
		if offer != nil && u.State().Done() && u.State().Target != offer.Target {
			err = u.Offer(context.Background(), *offer)
		} else {
			err = u.Resume(context.Background())
		}
		if errors.Is(err, errRestart) {
			continue
		}
		if err != nil && !errors.Is(err, ErrRefused) {
			w.t.Fatalf("boot %d: %v", i, err)
		}
		return u.State(), version
	}
	w.t.Fatal("no rest after 10 boots")
	return State{}, ""
}

func TestUpdateCommits(t *testing.T) {
	w := newWorld(t)
	v2 := makeBundle(t, "1.1.0", true, 600<<10)
	w.release("einwurf-1.1.0.tar", v2, "1.1.0")
	o := w.offer("einwurf-1.1.0.tar", "1.1.0")
	st, version := w.runToEnd(&o)
	if st.Phase != wire.UpdateCommitted || version != "1.1.0" {
		t.Fatalf("ended %s on %s", st.Phase, version)
	}
	env, _ := w.slots.Read()
	if env.Slot != "b" || env.Trial {
		t.Fatalf("env %+v", env)
	}
	// Most of the bundle (the unchanged filler) was copied, not fetched.
	if w.src.fetched > int64(len(v2))/4 {
		t.Fatalf("fetched %d of %d bytes", w.src.fetched, len(v2))
	}
	var phases []string
	for _, r := range w.report {
		if len(phases) == 0 || phases[len(phases)-1] != r.State {
			phases = append(phases, r.State)
		}
	}
	want := "offered downloading written verified switched booted-on-trial committed"
	if strings.Join(phases, " ") != want {
		t.Fatalf("reports %v, want %s", phases, want)
	}
}

func TestBadVersionRollsBack(t *testing.T) {
	w := newWorld(t)
	w.release("einwurf-1.1.0.tar", makeBundle(t, "1.1.0", false, 600<<10), "1.1.0")
	o := w.offer("einwurf-1.1.0.tar", "1.1.0")
	st, version := w.runToEnd(&o)
	if st.Phase != wire.UpdateRolledBack || version != "1.0.0" || st.Reason != "health:ui-not-serving" {
		t.Fatalf("ended %s (%s) on %s", st.Phase, st.Reason, version)
	}
	env, _ := w.slots.Read()
	if env.Slot != "a" || env.Trial {
		t.Fatalf("env %+v", env)
	}
}

// A version that never reaches its health check (it dies at every start)
// is rolled back by the boot counter.
func TestBootLimitRollsBack(t *testing.T) {
	w := newWorld(t)
	w.release("einwurf-1.1.0.tar", makeBundle(t, "1.1.0", true, 600<<10), "1.1.0")
	o := w.offer("einwurf-1.1.0.tar", "1.1.0")
	u, _ := w.boot(nil)
	if err := u.Offer(context.Background(), o); !errors.Is(err, errRestart) {
		t.Fatalf("offer: %v", err)
	}
	for i := 0; i < DefaultBootLimit; i++ {
		_, version := w.boot(nil) // starts, dies before its health check
		if version != "1.1.0" {
			t.Fatalf("boot %d on %s", i, version)
		}
	}
	st, version := w.runToEnd(nil)
	if st.Phase != wire.UpdateRolledBack || st.Reason != "boot-limit" || version != "1.0.0" {
		t.Fatalf("ended %s (%s) on %s", st.Phase, st.Reason, version)
	}
}

// Stopped at every hook point (every persisted phase, every read of a
// block, between environment and state writes), with or without losing
// what was not synced: the kiosk always boots a verified version, and
// after more boots ends committed on the new version (or back on the old
// one for a bad version).
func TestCrashAtEveryPoint(t *testing.T) {
	for _, healthy := range []bool{true, false} {
		// Count the hook points of an undisturbed run.
		w := newWorld(t)
		w.release("v2.tar", makeBundle(t, "2.0.0", healthy, 300<<10), "2.0.0")
		points := 0
		count := func(string) error { points++; return nil }
		u, _ := w.boot(count)
		err := u.Offer(context.Background(), w.offer("v2.tar", "2.0.0"))
		for errors.Is(err, errRestart) {
			u, _ = w.boot(count)
			err = u.Resume(context.Background())
		}
		if points < 8 {
			t.Fatalf("only %d hook points", points)
		}
		for _, powerCut := range []bool{false, true} {
			for k := 0; k < points; k++ {
				name := fmt.Sprintf("healthy=%v powercut=%v point=%d", healthy, powerCut, k)
				w := newWorld(t)
				w.name = name
				bundle := makeBundle(t, "2.0.0", healthy, 300<<10)
				w.release("v2.tar", bundle, "2.0.0")
				good := map[[32]byte]bool{sha256.Sum256(bundle): true}
				if b, err := w.fs.ReadFile("/app/a.img"); err == nil {
					good[sha256.Sum256(b)] = true
				}
				n := 0
				crash := func(string) error {
					if n++; n > k {
						return ErrCrash
					}
					return nil
				}
				o := w.offer("v2.tar", "2.0.0")
				u, _ := w.boot(crash)
				err := u.Offer(context.Background(), o)
				for errors.Is(err, errRestart) {
					u, _ = w.boot(crash)
					err = u.Resume(context.Background())
				}
				if !errors.Is(err, ErrCrash) {
					t.Fatalf("%s: run ended %v before the crash", name, err)
				}
				if powerCut {
					w.fs.PowerCut()
				}
				// What the boot loader would boot now is a verified version.
				env, err := w.slots.Read()
				if err != nil {
					t.Fatalf("%s: boot environment: %v", name, err)
				}
				img, _ := w.fs.ReadFile(w.slots.Image[env.Slot])
				if !good[sha256.Sum256(img)] {
					t.Fatalf("%s: slot %s to boot holds an unverified image", name, env.Slot)
				}
				st, version := w.runToEnd(&o)
				wantPhase, wantVersion := wire.UpdateCommitted, "2.0.0"
				if !healthy {
					wantPhase, wantVersion = wire.UpdateRolledBack, "1.0.0"
				}
				if st.Phase != wantPhase || version != wantVersion {
					t.Fatalf("%s: ended %s (%s) on %s", name, st.Phase, st.Reason, version)
				}
			}
		}
	}
}

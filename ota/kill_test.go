package ota

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/einwurf/einwurf/ota/durable"
	"github.com/einwurf/einwurf/wire"
)

// The installer process is killed with SIGKILL (by itself, at the n-th
// hook point: every persisted state, block reads, between the boot
// environment's and the state's writes, the trial and its commit or
// fall-back) and started again as the launcher would: the slot to boot
// always holds a verified image, and the update ends committed (or, for
// a version failing its health check, rolled back to the old one).
func TestKill9AtEveryPoint(t *testing.T) {
	v1 := benchBundle("1.0.0", 300<<10, 1)
	v2 := benchBundle("2.0.0", 700<<10, 2)
	srv := newBenchServer(t, v2)
	defer srv.Close()
	good := map[[32]byte]bool{sha256.Sum256(v1): true, sha256.Sum256(v2): true}
	slotsOf := func(dir string) Slots { return AppSlots(durable.OS{}, dir) }
	// boot runs the installer once as the launcher starts it.
	boot := func(dir string, env ...string) benchResult {
		slot, err := slotsOf(dir).Boot()
		if err != nil {
			t.Fatal(err)
		}
		r, killed := runInstaller(t, dir, srv.URL, nil, append(env, "OTA_BENCH_BOOTED="+slot)...)
		if killed {
			return benchResult{Phase: "killed"}
		}
		return r
	}
	for _, healthy := range []bool{true, false} {
		var extra []string
		if !healthy {
			extra = []string{"OTA_UNHEALTHY=1"}
		}
		// Count the points of an undisturbed update.
		dir := t.TempDir()
		benchKiosk(t, dir, v1, srv.repo.RootBytes())
		points := 0
		for i := 0; i < 4; i++ {
			r := boot(dir, extra...)
			points += r.Points
			if r.Phase == wire.UpdateCommitted || r.Phase == wire.UpdateRolledBack {
				break
			}
		}
		if points < 8 {
			t.Fatalf("only %d points", points)
		}
		for k := 0; k < points; k++ {
			name := fmt.Sprintf("healthy=%v kill at point %d of %d", healthy, k, points)
			dir := t.TempDir()
			benchKiosk(t, dir, v1, srv.repo.RootBytes())
			// Runs before the kill count their points towards k.
			left := k
			var r benchResult
			for run := 0; ; run++ {
				if run > 10 {
					t.Fatalf("%s: no rest after 10 starts (last %+v, left %d)", name, r, left)
				}
				if left >= 0 {
					cnt := boot(dir, append(extra, fmt.Sprintf("OTA_KILL_AT=%d", left))...)
					if cnt.Phase == "killed" {
						left = -1
						env, err := slotsOf(dir).Read()
						if err != nil {
							t.Fatalf("%s: boot environment: %v", name, err)
						}
						img, _ := os.ReadFile(filepath.Join(dir, env.Slot+".img"))
						if !good[sha256.Sum256(img)] {
							t.Fatalf("%s: slot %s to boot holds an unverified image", name, env.Slot)
						}
						continue
					}
					left -= cnt.Points
					r = cnt
				} else {
					r = boot(dir, extra...)
				}
				if r.Phase == wire.UpdateCommitted || r.Phase == wire.UpdateRolledBack {
					break
				}
			}
			if left >= 0 {
				t.Fatalf("%s: the kill never came", name)
			}
			env, _ := slotsOf(dir).Read()
			v, _ := os.ReadFile(filepath.Join(dir, "tree", env.Slot, "VERSION"))
			want, wantV := wire.UpdateCommitted, "2.0.0"
			if !healthy {
				want, wantV = wire.UpdateRolledBack, "1.0.0"
			}
			if r.Phase != want || string(v) != wantV || env.Trial {
				t.Fatalf("%s: ended %s (%s) booting %s (%+v)", name, r.Phase, r.Err, v, env)
			}
		}
	}
}

//go:build vm

// Package vm_test boots the virtual kiosk board (make vm) in
// qemu-system-aarch64 through Debian's real U-Boot and kernel, and checks the
// A/B scheme of ota/boot/boot.cmd on it, reading and writing the
// environment block with the host's fw_printenv/fw_setenv (libubootenv).
// Outside CI a missing QEMU, U-Boot or image skips; under CI=true it fails.
// The build tag vm keeps it out of make test (which runs before make vm
// has built the images): make vm-test runs it.
package vm_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/einwurf/einwurf/internal/testtool"
	"github.com/einwurf/einwurf/ota"
	"github.com/einwurf/einwurf/ota/durable"
	"github.com/einwurf/einwurf/ota/ubootenv"
)

const uboot = "/usr/lib/u-boot/qemu_arm64/u-boot.bin"

// board is one copy of a built disk, its fw_env.config and its console.
type board struct {
	t       testing.TB
	disk    string
	fwenv   string
	qemu    string
	printer string
	setter  string
	// extra are more QEMU arguments (the simulated devices, devices_test.go).
	extra []string
}

func newBoard(t testing.TB, image string) *board {
	t.Helper()
	b := &board{t: t}
	b.qemu = testtool.NeedTool(t, "qemu-system-aarch64")
	b.printer = testtool.NeedTool(t, "fw_printenv")
	b.setter = testtool.NeedTool(t, "fw_setenv")
	cp := testtool.NeedTool(t, "cp")
	for _, need := range []string{uboot, filepath.Join("..", "bin", "vm", image)} {
		if _, err := os.Stat(need); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s missing (make vm; required under CI)", need)
			}
			t.Skipf("%s missing (make vm builds the images)", need)
		}
	}
	dir := t.TempDir()
	b.disk = filepath.Join(dir, "disk.img")
	if out, err := exec.Command(cp, "--sparse=always", filepath.Join("..", "bin", "vm", image), b.disk).CombinedOutput(); err != nil {
		t.Fatalf("copy disk: %v: %s", err, out)
	}
	b.fwenv = filepath.Join(dir, "fw_env.config")
	if err := os.WriteFile(b.fwenv, []byte(b.disk+" 0x100000 0x4000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// setenv changes variables with the host's fw_setenv.
func (b *board) setenv(pairs ...string) {
	b.t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		if out, err := exec.Command(b.setter, "-c", b.fwenv, pairs[i], pairs[i+1]).CombinedOutput(); err != nil {
			b.t.Fatalf("fw_setenv %s: %v: %s", pairs[i], err, out)
		}
	}
}

// env reads the block with the host's fw_printenv.
func (b *board) env() map[string]string {
	b.t.Helper()
	out, err := exec.Command(b.printer, "-c", b.fwenv).CombinedOutput()
	if err != nil {
		b.t.Fatalf("fw_printenv: %v: %s", err, out)
	}
	vars := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			vars[k] = v
		}
	}
	return vars
}

// event is one console line the test looks for, and when it came.
type event struct {
	at   time.Duration
	line string
}

// run boots the board until it powers off (QEMU exits) or limit passes,
// returning the console's U-Boot and init lines ("einwurf" prefixed) with
// their times since QEMU started. The whole console goes to the test log
// only on failure.
func (b *board) run(limit time.Duration) []event { return b.runUntil(limit, "") }

// runUntil is run, but when a console line starts with cut (if not empty)
// QEMU is killed there: a power cut.
func (b *board) runUntil(limit time.Duration, cut string) []event {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	args := []string{"-M", "virt", "-cpu", "cortex-a57", "-smp", "1", "-m", "512",
		"-bios", uboot, "-drive", "if=none,file=" + b.disk + ",format=raw,id=hd0", "-device", "virtio-blk-pci,drive=hd0",
		"-nic", "none", "-display", "none", "-monitor", "none", "-serial", "stdio"}
	cmd := exec.CommandContext(ctx, b.qemu, append(args, b.extra...)...)
	cmd.Stdin = nil
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.t.Fatal(err)
	}
	var console strings.Builder
	cmd.Stderr = &console
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	var events []event
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := strings.TrimRight(sc.Text(), "\r")
		console.WriteString(l + "\n")
		if strings.HasPrefix(l, "einwurf") {
			events = append(events, event{time.Since(start), l})
		}
		if cut != "" && strings.HasPrefix(l, cut) {
			_ = cmd.Process.Kill()
			break
		}
	}
	_, _ = io.Copy(io.Discard, out)
	werr := cmd.Wait()
	if cut != "" {
		if _, n := find(events, cut); n == 1 {
			return events // killed as asked
		}
		b.t.Fatalf("board powered off before %q", cut)
	}
	if ctx.Err() != nil || werr != nil || b.t.Failed() {
		b.t.Logf("console:\n%s", console.String())
	}
	if ctx.Err() != nil {
		b.t.Fatalf("board did not power off within %v", limit)
	}
	if werr != nil {
		b.t.Fatalf("qemu: %v", werr)
	}
	return events
}

// limit is the time one boot may take: about 8 s here with -smp 1 under
// TCG; a loaded CI machine gets far more.
const limit = 90 * time.Second

var readyRE = regexp.MustCompile(`^einwurf-vm: ready slot=(\w) ms=(\d+)`)

func find(events []event, prefix string) (event, int) {
	n, first := 0, event{}
	for _, e := range events {
		if strings.HasPrefix(e.line, prefix) {
			if n == 0 {
				first = e
			}
			n++
		}
	}
	return first, n
}

// TestBootReady is scenario 1's first half: the board boots slot a through
// U-Boot, the kernel and the Go init, and the arm64 simulation's service
// reports ready. Boot time to ready is logged.
func TestBootReady(t *testing.T) {
	b := newBoard(t, "disk.img")
	b.setenv("vm_after_ready", "poweroff")
	ev := b.run(limit)
	if _, n := find(ev, "einwurf: booting slot a (virtio 0:2)"); n != 1 {
		t.Fatalf("U-Boot booted slot a %d times, want 1: %v", n, ev)
	}
	r, n := find(ev, "einwurf-vm: ready slot=a")
	if n != 1 {
		t.Fatalf("no ready on slot a: %v", ev)
	}
	if _, n := find(ev, "einwurf-vm: service ready (Einwurf kiosk"); n != 1 {
		t.Fatalf("service did not report ready: %v", ev)
	}
	m := readyRE.FindStringSubmatch(r.line)
	t.Logf("boot to ready: %.1f s from QEMU start (init to ready %s ms)", r.at.Seconds(), m[2])
	if env := b.env(); env["boot_slot"] != "a" || env["upgrade_available"] != "0" {
		t.Fatalf("environment after boot: %v", env)
	}
}

// TestSwitchCommit: the switch an update makes, by the kiosk's own
// ota.Slots.SwitchTo on the disk's block (the updater's last step before the
// reboot); U-Boot counts the trial boot, slot b comes up healthy and its init
// commits it with ota.Slots.Commit. The host's fw_printenv checks the result.
func TestSwitchCommit(t *testing.T) {
	b := newBoard(t, "disk.img")
	b.setenv("vm_after_ready", "poweroff")
	cfg, err := ubootenv.ParseConfig([]byte(b.disk + " 0x100000 0x4000\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := (ota.Slots{FS: durable.OS{}, Kind: ota.KindRootfs, Env: cfg}).SwitchTo("b"); err != nil {
		t.Fatal(err)
	}
	if env := b.env(); env["boot_slot"] != "b" || env["upgrade_available"] != "1" {
		t.Fatalf("fw_printenv after SwitchTo: %v", env)
	}
	ev := b.run(limit)
	if _, n := find(ev, "einwurf-vm: slot b up (bootcount 1, upgrade_available 1)"); n != 1 {
		t.Fatalf("slot b not booted once on trial with the count at 1: %v", ev)
	}
	if _, n := find(ev, "einwurf-vm: committed slot b"); n != 1 {
		t.Fatalf("slot b not committed: %v", ev)
	}
	env := b.env()
	if env["boot_slot"] != "b" || env["upgrade_available"] != "0" || env["bootcount"] != "0" || env["rollback"] != "" {
		t.Fatalf("environment after commit: %v", env)
	}
}

// TestRollback is scenario 3 on the board: slot b is a bad update (its
// health check fails); it is booted on trial bootlimit (3) times, never
// commits, and U-Boot's script falls back to slot a by the counter, which
// comes up ready. The host's fw_printenv sees the rollback.
func TestRollback(t *testing.T) {
	b := newBoard(t, "disk-bad-b.img")
	b.setenv("vm_after_ready", "poweroff", "boot_slot", "b", "upgrade_available", "1", "bootcount", "0")
	start := time.Now()
	ev := b.run(5 * limit)
	for i := 1; i <= 3; i++ {
		if _, n := find(ev, fmt.Sprintf("einwurf-vm: slot b up (bootcount %d, upgrade_available 1)", i)); n != 1 {
			t.Fatalf("trial boot %d of slot b missing: %v", i, ev)
		}
	}
	if _, n := find(ev, "einwurf-vm: health check failed on slot b"); n != 3 {
		t.Fatalf("slot b failed its health check %d times, want 3: %v", n, ev)
	}
	if _, n := find(ev, "einwurf: slot b did not commit in 3 boots, falling back"); n != 1 {
		t.Fatalf("U-Boot did not fall back: %v", ev)
	}
	if _, n := find(ev, "einwurf-vm: ready slot=a"); n != 1 {
		t.Fatalf("slot a not ready after the fallback: %v", ev)
	}
	if _, n := find(ev, "einwurf-vm: committed"); n != 0 {
		t.Fatalf("a bad slot committed: %v", ev)
	}
	env := b.env()
	if env["boot_slot"] != "a" || env["rollback"] != "1" || env["upgrade_available"] != "0" || env["bootcount"] != "0" {
		t.Fatalf("environment after rollback: %v", env)
	}
	t.Logf("rollback: 3 trial boots of b and a ready again in %.1f s", time.Since(start).Seconds())
}

// TestPowerCutAfterSwitch is one case of scenario 4: the power is cut right
// after U-Boot counted the first trial boot of the new slot (QEMU killed when
// the script says it boots b). The board boots b again on trial (count 2),
// which commits; nothing is lost and no slot is skipped.
func TestPowerCutAfterSwitch(t *testing.T) {
	b := newBoard(t, "disk.img")
	b.setenv("vm_after_ready", "poweroff", "boot_slot", "b", "upgrade_available", "1", "bootcount", "0")
	b.runUntil(limit, "einwurf: booting slot b")
	if env := b.env(); env["boot_slot"] != "b" || env["upgrade_available"] != "1" || env["bootcount"] != "1" {
		t.Fatalf("environment after the cut: %v", env)
	}
	ev := b.run(limit)
	if _, n := find(ev, "einwurf-vm: slot b up (bootcount 2, upgrade_available 1)"); n != 1 {
		t.Fatalf("slot b not booted on trial with the count at 2: %v", ev)
	}
	if _, n := find(ev, "einwurf-vm: committed slot b"); n != 1 {
		t.Fatalf("slot b not committed: %v", ev)
	}
	if env := b.env(); env["boot_slot"] != "b" || env["upgrade_available"] != "0" || env["bootcount"] != "0" {
		t.Fatalf("environment after commit: %v", env)
	}
}

// BenchmarkBootToReady measures one boot of the board: QEMU start to the
// init's ready line (s/boot), and the init's own start to ready (init-s).
func BenchmarkBootToReady(bb *testing.B) {
	b := newBoard(bb, "disk.img")
	b.setenv("vm_after_ready", "poweroff")
	var total, init time.Duration
	for i := 0; i < bb.N; i++ {
		ev := b.run(limit)
		r, n := find(ev, "einwurf-vm: ready slot=a")
		if n != 1 {
			bb.Fatalf("no ready: %v", ev)
		}
		ms, _ := time.ParseDuration(readyRE.FindStringSubmatch(r.line)[2] + "ms")
		total += r.at
		init += ms
	}
	bb.ReportMetric(total.Seconds()/float64(bb.N), "s/boot")
	bb.ReportMetric(init.Seconds()/float64(bb.N), "init-s/boot")
}

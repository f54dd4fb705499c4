//go:build vm

// Package vm_test boots the virtual kiosk board (make vm) in
// qemu-system-aarch64 through Debian's real U-Boot and kernel, with einwurfd
// from the arm64 release package as its service, talking to a real
// mosquitto and einwurf-central on the host (central_test.go) over QEMU's
// user network restricted to forwards onto the host's loopback, and checks
// the A/B scheme of ota/boot/boot.cmd on it, reading and writing the
// environment block with the host's fw_printenv/fw_setenv (libubootenv).
// Outside CI a missing QEMU, U-Boot or image skips; under CI=true it fails.
// The build tag vm keeps it out of make test (which runs before make vm
// has built the images): make vm-test runs it.
//
// For a board's extra devices (vm/devices.md) the harness takes more QEMU
// arguments (board.extra), the imager UART's chardev (board.imager) and
// more forwards (board.fwd).
package vm_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/einwurf/einwurf/internal/testtool"
	"github.com/einwurf/einwurf/ota"
	"github.com/einwurf/einwurf/ota/durable"
	"github.com/einwurf/einwurf/ota/ubootenv"
	"github.com/einwurf/einwurf/vm/usbredir/ippscanner"
	"github.com/einwurf/einwurf/wire/blocks"
)

const uboot = "/usr/lib/u-boot/qemu_arm64/u-boot.bin"

// board is one copy of a built disk, its fw_env.config, its console and the
// host's central it talks to.
type board struct {
	t       testing.TB
	disk    string
	fwenv   string
	qemu    string
	printer string
	setter  string
	c       *central
	// extra are more QEMU arguments (the simulated devices, devices_test.go:
	// usb-redir, chardevs); set them before a boot.
	extra []string
	// imager is the chardev backend of the imager's UART (a PCI 16550,
	// /dev/ttyS0 on the board, chardev id "imager"): "null" by default,
	// e.g. "socket,path=/tmp/x.sock" for a simulated imager.
	imager string
	// fwd maps more guest ports on 10.0.2.100 to host addresses.
	fwd map[int]string
	// consoles are the consoles of all boots so far, logged when the
	// test fails.
	consoles strings.Builder
}

// newBoard copies the built disk image, starts the host's central and
// provisions the board's data partition for it.
func newBoard(t testing.TB, image string) *board {
	t.Helper()
	b := &board{t: t, imager: "null", fwd: map[int]string{}}
	b.qemu = testtool.NeedTool(t, "qemu-system-aarch64")
	b.printer = testtool.NeedTool(t, "fw_printenv")
	b.setter = testtool.NeedTool(t, "fw_setenv")
	cp := testtool.NeedTool(t, "cp")
	for _, need := range []string{uboot, filepath.Join("..", "bin", "vm", image)} {
		if _, err := os.Stat(need); err != nil {
			testtool.SkipOrFail(t, "%s missing (make vm builds the images)", need)
		}
	}
	dir := t.TempDir()
	b.disk = filepath.Join(dir, "disk.img")
	if out, err := exec.Command(cp, "--sparse=always", filepath.Join("..", "bin", "vm", image), b.disk).CombinedOutput(); err != nil {
		t.Fatalf("copy disk: %v: %s", err, out)
	}
	b.fwenv = filepath.Join(dir, "fw_env.config")
	if err := os.WriteFile(b.fwenv, []byte(b.disk+" 0x100000 0x4000\n"+b.disk+" 0x104000 0x4000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.c = startCentral(t)
	b.c.provision(b.disk)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("console of every boot:\n%s", b.consoles.String())
		}
	})
	return b
}

// args is QEMU's command line for one boot: -smp 1, 512 MiB, Debian's
// U-Boot as the firmware, the disk on virtio, a virtio network card on
// QEMU's user network with restrict=on (the board reaches nothing but the
// forwards: each guest port on 10.0.2.100 to one host address on
// loopback, through "vmdisk fwd" per connection), the imager's UART, the
// console on stdout.
func (b *board) args() []string {
	net := "user,id=n0,restrict=on"
	fwd := map[int]string{}
	for p, a := range b.c.fwd {
		fwd[p] = a
	}
	for p, a := range b.fwd {
		fwd[p] = a
	}
	for p, a := range fwd {
		net += fmt.Sprintf(",guestfwd=tcp:%s:%d-cmd:%s fwd %s", guestHost, p, vmdisk(b.t), a)
	}
	args := []string{"-M", "virt,acpi=off", "-cpu", "cortex-a57", "-smp", "1", "-m", "512",
		"-bios", uboot, "-drive", "if=none,file=" + b.disk + ",format=raw,id=hd0", "-device", "virtio-blk-pci,drive=hd0",
		"-netdev", net, "-device", "virtio-net-pci,netdev=n0,romfile=",
		"-chardev", b.imager + ",id=imager", "-device", "pci-serial,chardev=imager", "-device", "i6300esb",
		"-display", "none", "-monitor", "none", "-serial", "stdio"}
	return append(args, b.extra...)
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
	r := b.boot(cut)
	select {
	case <-r.done:
	case <-time.After(limit):
		r.kill()
		b.t.Fatalf("board did not power off within %v", limit)
	}
	if cut != "" {
		if _, n := find(r.lines(), cut); n != 1 {
			b.t.Fatalf("board powered off before %q", cut)
		}
		return r.lines() // killed as asked
	}
	if r.err != nil {
		b.t.Fatalf("qemu: %v", r.err)
	}
	return r.lines()
}

// vmRun is a board running in the background: its console lines as they
// come, until QEMU ends (power off) or the test kills it.
type vmRun struct {
	b      *board
	cmd    *exec.Cmd
	start  time.Time
	mu     sync.Mutex
	events []event
	more   chan struct{} // closed and replaced on each new event
	done   chan struct{}
	err    error // QEMU's exit, once done
}

// boot starts QEMU and returns at once; kill (or the end of the test)
// stops it. When a console line starts with cut (if given), QEMU is
// killed right there: a power cut.
func (b *board) boot(cut ...string) *vmRun {
	b.t.Helper()
	cmd := exec.Command(b.qemu, b.args()...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	r := &vmRun{b: b, cmd: cmd, more: make(chan struct{}), done: make(chan struct{})}
	r.start = time.Now()
	if err := cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	go func() {
		var console strings.Builder
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			l := strings.TrimRight(sc.Text(), "\r")
			console.WriteString(l + "\n")
			for _, c := range cut {
				if c != "" && strings.HasPrefix(l, c) {
					cmd.Process.Kill()
					console.WriteString("(power cut)\n")
				}
			}
			if strings.HasPrefix(l, "einwurf") {
				r.mu.Lock()
				r.events = append(r.events, event{time.Since(r.start), l})
				close(r.more)
				r.more = make(chan struct{})
				r.mu.Unlock()
			}
		}
		r.err = cmd.Wait()
		b.consoles.WriteString(console.String() + stderr.String() + "(qemu ended)\n")
		close(r.done)
	}()
	b.t.Cleanup(r.kill)
	return r
}

// wait waits until the console has shown n lines starting with prefix,
// and returns the n-th.
func (r *vmRun) wait(prefix string, n int, limit time.Duration) event {
	r.b.t.Helper()
	deadline := time.After(limit)
	for {
		r.mu.Lock()
		seen := 0
		for _, e := range r.events {
			if strings.HasPrefix(e.line, prefix) {
				if seen++; seen == n {
					r.mu.Unlock()
					return e
				}
			}
		}
		more := r.more
		r.mu.Unlock()
		select {
		case <-more:
		case <-r.done:
			r.b.t.Fatalf("board stopped before %q (#%d)", prefix, n)
		case <-deadline:
			r.b.t.Fatalf("no %q (#%d) within %v", prefix, n, limit)
		}
	}
}

// lines returns the console's einwurf lines so far.
func (r *vmRun) lines() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event(nil), r.events...)
}

// kill cuts the board's power (QEMU killed) and waits for QEMU to end.
func (r *vmRun) kill() {
	if r.cmd.Process != nil {
		r.cmd.Process.Kill()
	}
	<-r.done
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

// versions are the root file systems' versions make vm built
// (bin/vm/versions): factory, update, bad.
func versions(t testing.TB) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "bin", "vm", "versions"))
	if err != nil {
		t.Fatalf("bin/vm/versions: %v (make vm)", err)
	}
	v := map[string]string{}
	for _, l := range strings.Fields(string(b)) {
		if k, val, ok := strings.Cut(l, "="); ok {
			v[k] = val
		}
	}
	return v
}

func image(t testing.TB, name string) string {
	p, err := filepath.Abs(filepath.Join("..", "bin", "vm", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestOnlineRebootUpdateAndBadUpdate is priorities 1 to 3 of issue 17 on
// the real bootloader, through einwurfd's own updater and the real central.
//
// Priority 1: einwurfd from the release package runs as the board's
// service, reaches the host's mosquitto over QEMU's restricted user network
// (TLS with its own certificate, the dynamic-security ACL), and the
// central's dashboard shows it up with the package's version. The
// operator's signed reboot command from the dashboard restarts the board
// through einwurfd's Parts.Reboot (appliance.SystemReboot → /bin/systemctl
// reboot → the init, PID 1, stops einwurfd and restarts the board): U-Boot
// and the kernel boot again and einwurfd comes back online.
//
// Scenario 2: einwurf-central release offers the root file system image
// of the next version (rollout r1); einwurfd in the board downloads it over
// the restricted network from release serve, writes it to slot b in
// verified blocks, switches through U-Boot's environment and reboots through
// Parts.Reboot; U-Boot boots b on trial (bootcount 1), the new einwurfd
// health-checks (including the central's acknowledgement) and commits. The
// central records "committed", fw_printenv shows b committed, and the
// dashboard's /metrics shows the new version.
//
// Scenario 3: a bad version (its einwurfd exits at start, so it never
// reaches its health check) is offered (rollout r2) and written to slot a;
// its three trial boots fail, U-Boot's counter falls back to b, and b's
// einwurfd reports "rolled-back" with the reason boot-limit, which the
// central records. Then an unhealthy version (its einwurfd starts, but
// looks for the central where none answers) is offered (rollout r3),
// written to slot a and booted on trial; its own health check fails at the
// health deadline (reason uplink), it falls back to b through the
// environment and reboots; b's einwurfd reports "rolled-back" with the
// reason health:uplink, which the central records.
func TestOnlineRebootUpdateAndBadUpdate(t *testing.T) {
	v := versions(t)
	b := newBoard(t, "disk.img")
	good, bad, unhealthy := "rootfs-"+v["update"]+".img", "rootfs-"+v["bad"]+".img", "rootfs-"+v["unhealthy"]+".img"
	rel := b.c.startRelease(map[string][2]string{
		good:      {image(t, "rootfs-update.img"), v["update"]},
		bad:       {image(t, "rootfs-bad.img"), v["bad"]},
		unhealthy: {image(t, "rootfs-unhealthy.img"), v["unhealthy"]},
	})
	b.c.provision(b.disk)

	// Priority 1: einwurfd from the package online at the central.
	version := v["factory"]
	r := b.boot()
	ready := r.wait("einwurf-vm: ready slot=a", 1, limit)
	if _, n := find(r.lines(), "einwurf: booting slot a (virtio 0:2)"); n != 1 {
		t.Fatalf("U-Boot booted slot a %d times, want 1: %v", n, r.lines())
	}
	if _, n := find(r.lines(), "einwurf-vm: service ready (einwurfd "+version+": kiosk "+kioskID); n != 1 {
		t.Fatalf("einwurfd %s did not report ready: %v", version, r.lines())
	}
	if env := b.env(); env["boot_slot"] != "a" || env["upgrade_available"] != "0" {
		t.Fatalf("environment after boot: %v", env)
	}
	online := until(t, limit, "the dashboard shows the board up with version "+version, func() bool {
		ver, _, up := b.c.kioskInfo()
		return up && ver == version
	})
	t.Logf("boot to ready %.1f s from QEMU start (init to ready %s ms), ready to online at the central %.1f s",
		ready.at.Seconds(), readyRE.FindStringSubmatch(ready.line)[2], online.Seconds())

	// The operator's reboot command, through Parts.Reboot.
	op := b.c.operator()
	sent := time.Now()
	b.c.command(op, "reboot")
	r.wait("einwurf-vm: reboot requested", 1, limit)
	r.wait("einwurf-vm: rebooting", 1, 30*time.Second)
	r.wait("einwurf: booting slot a", 2, limit)
	r.wait("einwurf-vm: ready slot=a", 2, limit)
	t.Logf("reboot command to ready again: %.1f s", time.Since(sent).Seconds())
	if _, n := find(r.lines(), "einwurf-vm: service exited"); n != 1 {
		t.Fatalf("einwurfd exited %d times before the reboot, want 1 (stopped by the init): %v", n, r.lines())
	}
	until(t, limit, "the board online again", func() bool {
		ver, _, up := b.c.kioskInfo()
		return up && ver == version
	})

	start := time.Now()
	rel.rollout("r1", good)
	sw := r.wait("einwurf: booting slot b", 1, 10*time.Minute)
	r.wait("einwurf-vm: slot b up (bootcount 1, upgrade_available 1)", 1, limit)
	until(t, 5*time.Minute, "the central records r1 committed", func() bool {
		return strings.HasPrefix(rel.status("r1"), "committed")
	})
	if env := b.env(); env["boot_slot"] != "b" || env["upgrade_available"] != "0" || env["bootcount"] != "0" {
		t.Fatalf("environment after the update: %v", env)
	}
	until(t, limit, "the dashboard shows "+v["update"], func() bool {
		ver, _, up := b.c.kioskInfo()
		return up && ver == v["update"]
	})
	fi, _ := os.Stat(image(t, "rootfs-update.img"))
	t.Logf("scenario 2: offer to committed and shown %.1f s (switch at %.1f s after QEMU start); %d of %d image bytes served",
		time.Since(start).Seconds(), sw.at.Seconds(), rel.served.Served(), fi.Size())

	start = time.Now()
	rel.rollout("r2", bad)
	for i := 1; i <= 3; i++ {
		r.wait(fmt.Sprintf("einwurf-vm: slot a up (bootcount %d, upgrade_available 1)", i), 1, 10*time.Minute)
	}
	r.wait("einwurf: slot a did not commit in 3 boots, falling back", 1, 3*limit)
	until(t, 5*time.Minute, "the central records r2 rolled back", func() bool {
		return strings.HasPrefix(rel.status("r2"), "rolled-back")
	})
	st := rel.status("r2")
	if !strings.Contains(st, "boot-limit") {
		t.Fatalf("release status of r2: %q, want the reason boot-limit", st)
	}
	if env := b.env(); env["boot_slot"] != "b" || env["upgrade_available"] != "0" || env["rollback"] != "1" {
		t.Fatalf("environment after the rollback: %v", env)
	}
	if ver, _, _ := b.c.kioskInfo(); ver != v["update"] {
		t.Fatalf("dashboard shows %q after the rollback, want %s", ver, v["update"])
	}
	t.Logf("scenario 3: offer to rolled back (%s) %.1f s", st, time.Since(start).Seconds())

	start = time.Now()
	_, trials := find(r.lines(), "einwurf-vm: slot a up (bootcount 1, upgrade_available 1)")
	_, secondTrials := find(r.lines(), "einwurf-vm: slot a up (bootcount 2, upgrade_available 1)")
	_, bootsB := find(r.lines(), "einwurf: booting slot b")
	_, onTrial := find(r.lines(), "einwurf-vm: slot a on trial")
	rel.rollout("r3", unhealthy)
	r.wait("einwurf-vm: slot a up (bootcount 1, upgrade_available 1)", trials+1, 10*time.Minute)
	// Its einwurfd is the update's (the image's version is in os-release):
	// it comes up on trial and runs its own health check.
	r.wait("einwurf-vm: slot a on trial: the service health-checks and commits", onTrial+1, limit)
	// No more than the one trial boot: einwurfd itself falls back, before
	// U-Boot's counter would.
	r.wait("einwurf: booting slot b", bootsB+1, unhealthyDeadline+3*limit)
	until(t, 5*time.Minute, "the central records r3 rolled back", func() bool {
		return strings.HasPrefix(rel.status("r3"), "rolled-back")
	})
	st = rel.status("r3")
	if !strings.Contains(st, "health:uplink") { // appliance.HealthUplink
		t.Fatalf("release status of r3: %q, want the reason health:uplink", st)
	}
	if _, n := find(r.lines(), "einwurf-vm: slot a on trial"); n != onTrial+1 {
		t.Fatalf("the unhealthy version's einwurfd came up on trial %d times, want once: %v", n-onTrial, r.lines())
	}
	if _, n := find(r.lines(), "einwurf-vm: slot a up (bootcount 2, upgrade_available 1)"); n != secondTrials {
		t.Fatalf("slot a was booted on trial again after the fall-back (its counter, not einwurfd, ended it): %v", r.lines())
	}
	if env := b.env(); env["boot_slot"] != "b" || env["upgrade_available"] != "0" {
		t.Fatalf("environment after the health check's fall-back: %v", env)
	}
	until(t, limit, "the dashboard shows "+v["update"]+" again", func() bool {
		ver, _, up := b.c.kioskInfo()
		return up && ver == v["update"]
	})
	t.Logf("scenario 3, unhealthy: offer to rolled back (%s) %.1f s", st, time.Since(start).Seconds())
}

// delta is how many bytes of the update image a board holding the factory
// image must fetch: the 256 KiB blocks (wire/blocks, as the updater cuts
// them) whose hash the factory image lacks.
func delta(t testing.TB, update, factory string) int64 {
	t.Helper()
	index := func(p string) blocks.Index {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		x, err := blocks.Build(f, 256<<10)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	have := map[[32]byte]bool{}
	for _, h := range index(factory).Hashes {
		have[h] = true
	}
	u := index(update)
	var n int64
	for i, h := range u.Hashes {
		if !have[h] {
			_, l := u.Span(i)
			n += l
		}
	}
	return n
}

// TestPowerCuts is scenario 4 of issue 17: the power is cut (QEMU killed)
// three times during one root file system update, and each time the board
// comes back on a valid version:
//
//  1. during the download (two thirds of the blocks to fetch served): the
//     board boots slot a again, and einwurfd resumes the download, keeping
//     the blocks already in slot b;
//  2. late in the slot write (nine tenths of the blocks still missing
//     fetched and written to slot b): slot a again, the resume keeps what
//     was synced;
//  3. right after the switch (U-Boot has counted the first trial boot of
//     b): b boots again on trial (count 2), health-checks and commits.
//
// After each cut during the transfer the resumed download fetches less than
// the whole delta (the blocks the factory image lacks): it keeps what was
// written and synced to slot b. ("Served" counts what the host's update
// server sent; several MB of it are still in socket buffers on the way when
// the power is cut, so it overstates what the board had written.)
func TestPowerCuts(t *testing.T) {
	v := versions(t)
	b := newBoard(t, "disk.img")
	name := "rootfs-" + v["update"] + ".img"
	rel := b.c.startRelease(map[string][2]string{name: {image(t, "rootfs-update.img"), v["update"]}})
	b.c.provision(b.disk)
	need := delta(t, image(t, "rootfs-update.img"), image(t, "rootfs-factory.img"))
	r := b.boot()
	r.wait("einwurf-vm: ready slot=a", 1, limit)
	start := time.Now()
	rel.rollout("r1", name)

	// Two thirds served: several MB of it are still in socket buffers, but
	// the board has written and synced (every 4 MiB) a part of it for sure.
	// At a third, on a fast machine, it may not have synced anything yet,
	// and the resume rightly fetched everything again.
	until(t, 5*time.Minute, "two thirds of the blocks served", func() bool { return rel.served.Served() >= need*2/3 })
	r.kill()
	first := rel.served.Served()
	if env := b.env(); env["boot_slot"] != "a" || env["upgrade_available"] != "0" {
		t.Fatalf("environment after the cut during the download: %v", env)
	}
	t.Logf("cut 1 during the download after %.1f s: %d of %d bytes to fetch served", time.Since(start).Seconds(), first, need)

	r = b.boot()
	r.wait("einwurf-vm: ready slot=a", 1, limit)
	// Late in the slot write: nine tenths of the blocks still missing after
	// cut 1 fetched (each written to slot b as it arrives, synced every
	// 4 MiB).
	until(t, 5*time.Minute, "nine tenths of the rest served", func() bool {
		return rel.served.Served()-first >= (need-first)*9/10
	})
	r.kill()
	second := rel.served.Served() - first
	if env := b.env(); env["boot_slot"] != "a" || env["upgrade_available"] != "0" {
		t.Fatalf("environment after the cut during the slot write: %v (the switch came first)", env)
	}
	if _, n := find(r.lines(), "einwurf: booting slot b"); n != 0 {
		t.Fatalf("switched before the cut: %v", r.lines())
	}
	t.Logf("cut 2 late in the slot write after %.1f s: %d bytes served after the resume (%d still to fetch after cut 1)",
		time.Since(start).Seconds(), second, need-first)
	if second >= need {
		t.Fatalf("the download started over: %d bytes after the resume, the whole delta is %d", second, need)
	}

	r = b.boot("einwurf: booting slot b")
	<-r.done
	if _, n := find(r.lines(), "einwurf: booting slot b"); n != 1 {
		t.Fatalf("no switch to b after the resume: %v", r.lines())
	}
	if env := b.env(); env["boot_slot"] != "b" || env["upgrade_available"] != "1" || env["bootcount"] != "1" {
		t.Fatalf("environment after the cut right after the switch: %v", env)
	}
	third := rel.served.Served() - first - second
	t.Logf("cut 3 right after the switch after %.1f s: %d bytes served after cut 2", time.Since(start).Seconds(), third)
	if third >= need {
		t.Fatalf("the download started over after cut 2: %d bytes, the whole delta is %d", third, need)
	}

	r = b.boot()
	r.wait("einwurf-vm: slot b up (bootcount 2, upgrade_available 1)", 1, limit)
	until(t, 5*time.Minute, "the central records r1 committed", func() bool {
		return strings.HasPrefix(rel.status("r1"), "committed")
	})
	if env := b.env(); env["boot_slot"] != "b" || env["upgrade_available"] != "0" || env["bootcount"] != "0" {
		t.Fatalf("environment after the commit: %v", env)
	}
	total := rel.served.Served()
	t.Logf("committed after three power cuts in %.1f s; %d bytes served in all, %d to fetch (image %d)",
		time.Since(start).Seconds(), total, need, fileSize(t, image(t, "rootfs-update.img")))
}

func fileSize(t testing.TB, p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestTornEnvironmentWrite is the redundant U-Boot environment of issue 17
// (item 5): two copies (vm/boot/env.cmd, vm/fw_env.config), each write goes
// to the copy that is not current with the next flag, so a power cut during
// a write leaves the current copy intact.
//
// The kiosk's switch to b (ota.Slots.SwitchTo) is torn: only the first
// half of the copy it writes reaches the disk. fw_printenv still reads the
// old environment (slot a, committed) from the intact copy, and U-Boot
// imports that copy (its script refuses the torn one by its CRC) and boots
// slot a. Then the switch is made whole: U-Boot counts the trial boot into
// the other copy, the init commits b into the next one, and fw_printenv
// follows each write.
func TestTornEnvironmentWrite(t *testing.T) {
	b := newBoard(t, "disk.img")
	b.setenv("vm_after_ready", "poweroff")
	cfg, err := ubootenv.ParseConfig([]byte(b.disk + " 0x100000 0x4000\n" + b.disk + " 0x104000 0x4000\n"))
	if err != nil {
		t.Fatal(err)
	}
	slots := ota.Slots{FS: durable.OS{}, Kind: ota.KindRootfs, Env: cfg}
	before := b.envCopies()
	if err := slots.SwitchTo("b"); err != nil {
		t.Fatal(err)
	}
	after := b.envCopies()
	// The copy the switch wrote, torn: new up to the middle of what it
	// changed, old after (a write cut short: neither the old nor the new
	// copy, its CRC matches neither).
	written := -1
	for i, off := range []int{0, 0x4000} {
		o, n := before[off:off+0x4000], after[off:off+0x4000]
		if bytes.Equal(o, n) {
			continue
		}
		if written >= 0 {
			t.Fatal("the switch wrote both copies")
		}
		written = i
		first, last := 0, len(n)-1
		for o[first] == n[first] {
			first++
		}
		for o[last] == n[last] {
			last--
		}
		cut := first + (last-first+1)/2
		torn := append(append([]byte(nil), n[:cut]...), o[cut:]...)
		f, err := os.OpenFile(b.disk, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(torn, int64(0x100000+off)); err != nil {
			t.Fatal(err)
		}
		f.Close()
		t.Logf("copy %d torn at byte %d (changed bytes %d..%d)", i+1, cut, first, last)
	}
	if written < 0 {
		t.Fatal("the switch wrote no copy")
	}
	if env := b.env(); env["boot_slot"] != "a" || env["upgrade_available"] != "0" || env["vm_after_ready"] != "poweroff" {
		t.Fatalf("fw_printenv after the torn write of copy %d: %v, want the old environment", written+1, env)
	}
	ev := b.run(limit)
	if _, n := find(ev, fmt.Sprintf("einwurf: environment copy %d", 2-written)); n != 1 {
		t.Fatalf("U-Boot did not take the intact copy %d: %v", 2-written, ev)
	}
	if _, n := find(ev, "einwurf: booting slot a"); n != 1 {
		t.Fatalf("U-Boot did not boot slot a after the torn write: %v", ev)
	}
	if _, n := find(ev, "einwurf-vm: ready slot=a"); n != 1 {
		t.Fatalf("slot a not ready after the torn write: %v", ev)
	}

	// The switch whole: U-Boot's counter and the init's commit each write
	// the copy that is not current.
	if err := slots.SwitchTo("b"); err != nil {
		t.Fatal(err)
	}
	if env := b.env(); env["boot_slot"] != "b" || env["upgrade_available"] != "1" {
		t.Fatalf("fw_printenv after the switch: %v", env)
	}
	ev = b.run(limit)
	if _, n := find(ev, "einwurf: environment written to copy"); n != 1 {
		t.Fatalf("U-Boot did not write the counter once: %v", ev)
	}
	if _, n := find(ev, "einwurf-vm: slot b up (bootcount 1, upgrade_available 1)"); n != 1 {
		t.Fatalf("slot b not booted on trial with the count at 1: %v", ev)
	}
	if _, n := find(ev, "einwurf-vm: committed slot b"); n != 1 {
		t.Fatalf("slot b not committed: %v", ev)
	}
	if env := b.env(); env["boot_slot"] != "b" || env["upgrade_available"] != "0" || env["bootcount"] != "0" {
		t.Fatalf("fw_printenv after the commit: %v", env)
	}
}

// envCopies reads the environment's two copies from the disk image.
func (b *board) envCopies() []byte {
	b.t.Helper()
	f, err := os.Open(b.disk)
	if err != nil {
		b.t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 0x8000)
	if _, err := f.ReadAt(buf, 0x100000); err != nil {
		b.t.Fatal(err)
	}
	return buf
}

// TestVisit is scenario 1 of issue 17: a customer's visit on the board,
// every device in its real protocol (vm/devices.md): the Kundennummer on
// the imager's UART (the host's SSI engine), the pages from the IPP-USB
// scanner over usb-redir (the host's usbredir peer serving the eSCL
// simulator), einwurfd from the package sealing the packet and sending it
// over MQTT to the host's mosquitto, and einwurf-central ingest filing it
// in the inbox on the host. The touch screen's taps ("scan", "send") are
// the init's (vm_visit): it posts what the screen's buttons post to
// einwurfd's UI on the board's loopback.
func TestVisit(t *testing.T) {
	const number = "035F083761" // a valid Kundennummer (kiosk/ident's tests)
	b := newBoard(t, "disk.img")
	args, pages := usbScanner(t)
	b.extra = args
	b.imager = imagerUART(t, number)
	b.setenv("vm_visit", "1")
	r := b.boot()
	ready := r.wait("einwurf-vm: ready slot=a", 1, limit)
	done := r.wait("einwurf-vm: visit done", 1, 5*time.Minute)
	filed, kept := b.checkFiled(number, pages)
	b.numberNotOnConsole(r, number)
	t.Logf("boot to ready %.1f s; visit (barcode, %d pages over usb-redir, send) %.1f s after ready; filed by the central (%d pages) %.1f s after the visit",
		ready.at.Seconds(), len(pages.Sums()), (done.at - ready.at).Seconds(), kept, filed.Seconds())
}

// checkFiled waits until the host's central has filed the visit's packet
// for number in its inbox, checks it (a PDF; the sidecar names the kiosk
// and at least one, at most the pages the scanner served) and returns how
// long it waited and the pages filed.
func (b *board) checkFiled(number string, pages *ippscanner.Pages) (time.Duration, int) {
	t := b.t
	t.Helper()
	var pdf string
	filed := until(t, 2*time.Minute, "the central files the packet", func() bool {
		m, _ := filepath.Glob(filepath.Join(b.c.inbox, "*", number, "*.pdf"))
		if len(m) == 1 {
			pdf = m[0]
		}
		return pdf != ""
	})
	side, err := os.ReadFile(strings.TrimSuffix(pdf, ".pdf") + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var sc struct {
		Kiosk string `json:"kiosk_id"`
		Pages int    `json:"pages"`
	}
	if err := json.Unmarshal(side, &sc); err != nil {
		t.Fatalf("sidecar %s: %v", side, err)
	}
	served := len(pages.Sums())
	if sc.Kiosk != kioskID || sc.Pages < 1 || sc.Pages > served {
		t.Fatalf("filed %d pages, the scanner served %d: %s", sc.Pages, served, side)
	}
	if b, err := os.ReadFile(pdf); err != nil || !bytes.HasPrefix(b, []byte("%PDF-")) {
		t.Fatalf("filed %s is no PDF (%v)", pdf, err)
	}
	return filed, sc.Pages
}

// numberNotOnConsole fails if the board's console showed the number.
func (b *board) numberNotOnConsole(r *vmRun, number string) {
	b.t.Helper()
	for _, e := range r.lines() {
		if strings.Contains(e.line, number) {
			b.t.Fatalf("the number on the board's console: %q", e.line)
		}
	}
}

// TestScannerHotplug: the scanner plugged into the running kiosk, as on
// the real kiosk, where systemd-udevd passes the kernel's uevents on to
// libusb (Debian's libusb learns of a device plugged after its start only
// from udev's events). The board runs Debian's systemd-udevd (vm/init,
// udev.go) and boots with nothing on its USB bus: QEMU's usb-redir waits
// on its chardev for the host's usbredir peer (vm_hotplug, vm/init
// hotplug.go). einwurfd comes up and puts the kiosk out of service for the
// scanner (its screen's reason out-of-service.technical-fault); the host
// plugs the scanner in (device_connect); einwurfd sees it and the kiosk is
// ready; a visit (Kundennummer on the UART, pages over usb-redir) is
// filed by the central; the host pulls the scanner out and the kiosk is
// out of service again. Without udevd (vm_udev=off) the kiosk never sees
// the scanner and the test fails at "ready with the scanner".
func TestScannerHotplug(t *testing.T) {
	const number = "035F083761" // a valid Kundennummer (kiosk/ident's tests)
	b := newBoard(t, "disk.img")
	sc := redirScanner(t)
	b.extra = sc.args
	present := make(chan struct{})
	b.imager = imagerUARTOn(t, number, present)
	b.setenv("vm_hotplug", "1", "vm_after_ready", "poweroff")
	r := b.boot()
	udev := r.wait("einwurf-vm: udevd up", 1, limit)
	ready := r.wait("einwurf-vm: ready slot=a", 1, limit)
	absent := r.wait("einwurf-vm: hotplug: out of service without a scanner", 1, 3*time.Minute)
	plug := r.wait("einwurf-vm: hotplug: plug the scanner in", 1, time.Minute)
	sc.plug()
	back := r.wait("einwurf-vm: hotplug: ready with the scanner", 1, 3*time.Minute)
	r.wait("einwurf-vm: hotplug: present the code", 1, time.Minute)
	close(present)
	done := r.wait("einwurf-vm: visit done", 1, 5*time.Minute)
	filed, kept := b.checkFiled(number, sc.pages)
	unplug := r.wait("einwurf-vm: hotplug: unplug the scanner", 1, time.Minute)
	sc.unplug()
	gone := r.wait("einwurf-vm: hotplug: out of service again", 1, 3*time.Minute)
	r.wait("einwurf-vm: hotplug done", 1, time.Minute)
	b.numberNotOnConsole(r, number)
	for _, e := range r.lines() {
		if strings.HasPrefix(e.line, "einwurf-vm: hotplug") || strings.HasPrefix(e.line, "einwurf-vm: ud") {
			t.Logf("%6.1fs %s", e.at.Seconds(), e.line)
		}
	}
	t.Logf("%s; boot to ready %.1f s; out of service without the scanner %.1f s after ready; plugged in at %.1f s, ready %.1f s later; visit (%d pages) %.1f s, filed %.1f s later (%d pages); unplugged at %.1f s, out of service %.1f s later",
		udev.line, ready.at.Seconds(), (absent.at - ready.at).Seconds(), plug.at.Seconds(), (back.at - plug.at).Seconds(),
		len(sc.pages.Sums()), (done.at - back.at).Seconds(), filed.Seconds(), kept, unplug.at.Seconds(), (gone.at - unplug.at).Seconds())
}

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

// TestOnlineAndReboot is priority 1 of issue 17: einwurfd from the release
// package runs as the board's service, reaches the host's mosquitto over
// QEMU's restricted user network (TLS with its own certificate, the
// dynamic-security ACL), and the central's dashboard shows it up with the
// package's version. Then the operator's signed reboot command from the
// dashboard restarts the board through einwurfd's Parts.Reboot
// (appliance.SystemReboot → /bin/systemctl reboot → the init, PID 1, stops
// einwurfd and restarts the board): U-Boot and the kernel boot again and
// einwurfd comes back online.
func TestOnlineAndReboot(t *testing.T) {
	b := newBoard(t, "disk.img")
	version := versions(t)["factory"]
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
		v, _, up := b.c.kioskInfo()
		return up && v == version
	})
	t.Logf("boot to ready %.1f s from QEMU start (init to ready %s ms), ready to online at the central %.1f s",
		ready.at.Seconds(), readyRE.FindStringSubmatch(ready.line)[2], online.Seconds())
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

// TestRootfsUpdateAndBadUpdate is scenarios 2 and 3 of issue 17 on the
// real bootloader, through einwurfd's own updater and the real central.
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
// central records.
func TestRootfsUpdateAndBadUpdate(t *testing.T) {
	v := versions(t)
	b := newBoard(t, "disk.img")
	good, bad := "rootfs-"+v["update"]+".img", "rootfs-"+v["bad"]+".img"
	rel := b.c.startRelease(map[string][2]string{
		good: {image(t, "rootfs-update.img"), v["update"]},
		bad:  {image(t, "rootfs-bad.img"), v["bad"]},
	})
	b.c.provision(b.disk)
	r := b.boot()
	r.wait("einwurf-vm: ready slot=a", 1, limit)
	until(t, limit, "the dashboard shows the factory version", func() bool {
		ver, _, up := b.c.kioskInfo()
		return up && ver == v["factory"]
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
}

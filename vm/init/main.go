// Command init is PID 1 of the virtual kiosk board (make vm): the Go init in
// each root slot's initramfs. It mounts /dev, /proc, /sys, loads the kernel
// modules /etc/einwurf-vm/modules lists (in that order: Debian's virtio, ext4
// and network modules, and whatever a board adds), brings up lo and, when
// QEMU gives the board a network card, eth0 with QEMU's user-network address
// (10.0.2.15/24: the host's services are forwarded to 10.0.2.100, nothing
// else is reachable), reads the U-Boot environment block on the virtio disk
// (the ota/ubootenv package, the same format fw_printenv reads), starts
// Debian's systemd-udevd and runs udevadm's coldplug (udev.go: so that the
// kiosk's libusb hears of USB devices plugged later, as on the kiosk), starts the
// kiosk service (/etc/einwurf-vm/service) and waits for it to report ready
// (a console line starting with /etc/einwurf-vm/ready), then runs the
// slot's health check:
//
//   - healthy and on trial (upgrade_available=1): commits the slot with the
//     kiosk's own ota.Slots.Commit (upgrade_available=0, bootcount=0);
//   - unhealthy (the slot's /etc/einwurf-vm/health says "fail", or the
//     service did not come up): reboots without committing, so U-Boot's boot
//     counter falls back to the other slot.
//
// When the kiosk's configuration takes root file system updates
// (update.rootfs in /data/config/einwurfd.json), einwurfd's updater
// health-checks and commits a slot on trial, and the init only reboots a
// trial boot whose service did not come up.
//
// Then it powers the board off when the environment says
// vm_after_ready=poweroff (the test's way to end a boot), else it keeps the
// service running and starts it again 2 s after it exits (what systemd's
// Restart=always does on a kiosk).
//
// There is no systemd: the service's reboot (einwurfd's
// appliance.SystemReboot runs "systemctl reboot") reaches this init through
// /bin/systemctl, a link to it: run as systemctl it sends SIGTERM to PID 1,
// which stops the service (SIGTERM, 20 s), syncs, unmounts /data and
// restarts the board. Every step prints one "einwurf-vm: " line on the
// console for the test.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/einwurf/einwurf/ota"
	"github.com/einwurf/einwurf/ota/durable"
	"github.com/einwurf/einwurf/ota/ubootenv"
)

// envConfig is where the environment block lives on the disk (vm/build.sh
// writes it there, fw_env.config on the host names the same offset).
const envConfig = "/dev/vda 0x100000 0x4000\n/dev/vda 0x104000 0x4000\n"

// modulesFile lists the modules to load, one name a line, dependencies
// first (Debian's package has no modules.dep, depmod runs at install);
// vm/build.sh writes it from vm/modules, vm/devices.modules (the simulated
// devices': USB host, configfs, gpio-sim) and VM_MODULES.
const modulesFile = "/etc/einwurf-vm/modules"

// The board's address on QEMU's user network (-netdev user, restrict=on).
var (
	guestAddr = []byte{10, 0, 2, 15}
	guestMask = []byte{255, 255, 255, 0}
)

func main() {
	if filepath.Base(os.Args[0]) == "systemctl" {
		os.Exit(systemctl(os.Args[1:]))
	}
	start := time.Now()
	err := run(start)
	say("error: %v", err)
	time.Sleep(time.Second)
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
}

func say(format string, args ...any) {
	fmt.Fprintf(os.Stdout, "einwurf-vm: "+format+"\n", args...)
}

func run(start time.Time) error {
	if err := mounts(); err != nil {
		return err
	}
	mods, err := os.ReadFile(modulesFile)
	if err != nil {
		return err
	}
	for _, m := range strings.Fields(string(mods)) {
		if err := loadModule("/lib/modules/" + m + ".ko"); err != nil {
			return fmt.Errorf("module %s: %w", m, err)
		}
	}
	if err := waitFor("/dev/vda", 10*time.Second); err != nil {
		return err
	}
	cfg, err := ubootenv.ParseConfig([]byte(envConfig))
	if err != nil {
		return err
	}
	env, err := ubootenv.Open(cfg)
	if err != nil {
		return fmt.Errorf("environment: %w", err)
	}
	// The kiosk's own reading of the boot environment (ota.Slots), as its
	// updater does after a switch.
	slots := ota.Slots{FS: durable.OS{}, Kind: ota.KindRootfs, Env: cfg}
	benv, err := slots.Read()
	if err != nil {
		return fmt.Errorf("environment: %w", err)
	}
	slot := cmdlineValue("einwurf.slot")
	trial := "0"
	if benv.Trial {
		trial = "1"
	}
	say("slot %s up (bootcount %d, upgrade_available %s)", slot, benv.BootCount, trial)
	if benv.Slot != slot {
		return fmt.Errorf("booted slot %q, the environment says %q", slot, benv.Slot)
	}

	if err := linkUp("lo", nil, nil); err != nil {
		return err
	}
	if _, err := os.Stat("/sys/class/net/eth0"); err == nil {
		if err := linkUp("eth0", guestAddr, guestMask); err != nil {
			return err
		}
		say("network eth0 10.0.2.15/24")
	}
	chips, _ := filepath.Glob("/dev/gpiochip*")
	amba, _ := filepath.Glob("/sys/bus/amba/devices/*")
	say("gpio chips %v (amba %v)", chips, amba)
	data := "/data"
	if err := mountData(data); err != nil {
		return err
	}
	udev, _ := env.Get("vm_udev")
	startUdev(context.Background(), udev)
	if p, _ := env.Get("vm_probe"); p != "" {
		probe(p)
	}
	vmPanel, _ := env.Get("vm_panel")
	chip, err := panelSetup(vmPanel)
	if err != nil {
		return fmt.Errorf("panel: %w", err)
	}
	svc := &supervisor{data: data}
	go svc.onSignal()
	healthy, detail := svc.start()
	say("service %s after %d ms since init", detail, time.Since(start).Milliseconds())
	if healthy && chip != nil {
		panelPlay(chip)
	}
	if !healthy {
		svc.stop()
	}
	if readTrim("/etc/einwurf-vm/health") == "fail" {
		healthy, detail = false, "slot's health check says fail"
	}
	if !healthy && trial == "1" {
		say("health check failed on slot %s: %s; rebooting without commit", slot, detail)
		unix.Sync()
		return unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	}
	if !healthy {
		// A committed slot that fails has nothing to fall back to by
		// itself: it says so and stays (or powers off for the test).
		say("health check failed on committed slot %s: %s", slot, detail)
		return svc.afterReady(env)
	}
	switch {
	case trial == "1" && serviceCommits(data):
		say("slot %s on trial: the service health-checks and commits", slot)
	case trial == "1":
		if err := slots.Commit(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		say("committed slot %s", slot)
	}
	say("ready slot=%s ms=%d", slot, time.Since(start).Milliseconds())
	if v, _ := env.Get("vm_visit"); v != "" {
		visit()
	}
	if v, _ := env.Get("vm_hotplug"); v != "" {
		hotplug()
	}
	return svc.afterReady(env)
}

// serviceCommits reports whether the kiosk's configuration on the data
// partition takes root file system updates (update.rootfs): then einwurfd's
// updater runs the health check and commits, not the init.
func serviceCommits(data string) bool {
	b, err := os.ReadFile(filepath.Join(data, "config", "einwurfd.json"))
	if err != nil {
		return false
	}
	var cfg struct {
		Update *struct {
			Rootfs json.RawMessage `json:"rootfs"`
		} `json:"update"`
	}
	return json.Unmarshal(b, &cfg) == nil && cfg.Update != nil && len(cfg.Update.Rootfs) > 0 && string(cfg.Update.Rootfs) != "null"
}

func readTrim(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

func mounts() error {
	for _, m := range []struct{ dir, fs string }{{"/dev", "devtmpfs"}, {"/proc", "proc"}, {"/sys", "sysfs"}, {"/tmp", "tmpfs"}, {"/run", "tmpfs"}} {
		if err := os.MkdirAll(m.dir, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m.fs, m.dir, m.fs, 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount %s: %w", m.dir, err)
		}
	}
	return nil
}

// linkUp gives the interface an IPv4 address and mask (when not nil) and
// brings it up: lo for the service's UI on 127.0.0.1, eth0 for QEMU's user
// network.
func linkUp(name string, addr, mask []byte) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	set := func(req uint, v []byte) error {
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			return err
		}
		if err := ifr.SetInet4Addr(v); err != nil {
			return err
		}
		return unix.IoctlIfreq(fd, req, ifr)
	}
	if addr != nil {
		if err := set(unix.SIOCSIFADDR, addr); err != nil {
			return fmt.Errorf("%s address: %w", name, err)
		}
		if err := set(unix.SIOCSIFNETMASK, mask); err != nil {
			return fmt.Errorf("%s netmask: %w", name, err)
		}
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("%s up: %w", name, err)
	}
	return nil
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && !errors.Is(err, unix.EEXIST) {
		return err
	}
	return nil
}

func waitFor(path string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not appear in %v", path, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mountData mounts the data partition (spool, keys, configuration).
func mountData(dir string) error {
	if err := waitFor("/dev/vda4", 5*time.Second); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("/dev/vda4", dir, "ext4", 0, ""); err != nil {
		return fmt.Errorf("mount data: %w", err)
	}
	return nil
}

func cmdlineValue(key string) string {
	b, _ := os.ReadFile("/proc/cmdline")
	for _, f := range strings.Fields(string(b)) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

// supervisor runs the slot's kiosk service (/etc/einwurf-vm/service: the
// command line, $DATA replaced by the data partition's mount point) as
// systemd's Restart=always would, and reboots the board on request.
type supervisor struct {
	data string

	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
	stopping bool
}

// start starts the service and waits up to 60 s for its ready line (a line
// starting with /etc/einwurf-vm/ready, default "einwurf", any case),
// copying its output to the console.
func (s *supervisor) start() (bool, string) {
	line, err := os.ReadFile("/etc/einwurf-vm/service")
	if err != nil {
		return false, "no service configured"
	}
	args := strings.Fields(strings.ReplaceAll(string(line), "$DATA", s.data))
	if len(args) == 0 {
		return false, "empty service line"
	}
	prefix := strings.ToLower(readTrim("/etc/einwurf-vm/ready"))
	if prefix == "" {
		prefix = "einwurf"
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + s.data, "TMPDIR=/tmp", "RUNTIME_DIRECTORY=/run"}
	cmd.Stderr = os.Stdout
	out, err := cmd.StdoutPipe()
	if err != nil {
		return false, err.Error()
	}
	if err := cmd.Start(); err != nil {
		return false, "start: " + err.Error()
	}
	exited := make(chan struct{})
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			os.Stdout.Write(append(bytes.Clone(sc.Bytes()), '\n'))
			if strings.HasPrefix(strings.ToLower(sc.Text()), prefix) {
				select {
				case ready <- sc.Text():
				default:
				}
			}
		}
		err := cmd.Wait()
		say("service exited: %v", err)
		close(exited)
	}()
	select {
	case l := <-ready:
		return true, "ready (" + l + ")"
	case <-exited:
		return false, "exited before ready"
	case <-time.After(60 * time.Second):
		// A Go service prints its goroutines on SIGQUIT: where it hangs.
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
		}
		return false, "not ready in 60 s"
	}
}

// stop ends the service: SIGTERM, SIGKILL after 20 s.
func (s *supervisor) stop() {
	s.mu.Lock()
	s.stopping = true
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// afterReady powers off when the environment says vm_after_ready=poweroff,
// else it keeps the service running, starting it again 2 s after it exits.
func (s *supervisor) afterReady(env *ubootenv.Env) error {
	if after, _ := env.Get("vm_after_ready"); after == "poweroff" {
		s.stop()
		unix.Sync()
		say("power off")
		return unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	}
	for {
		s.mu.Lock()
		exited, stopping := s.exited, s.stopping
		s.mu.Unlock()
		if stopping || exited == nil {
			select {} // rebooting, or there is no service
		}
		<-exited
		time.Sleep(2 * time.Second)
		s.mu.Lock()
		stopping = s.stopping
		s.mu.Unlock()
		if stopping {
			select {}
		}
		say("service restarting")
		ok, detail := s.start()
		say("service %s", detail)
		_ = ok
	}
}

// onSignal is PID 1's SIGTERM (from /bin/systemctl reboot): stop the
// service, sync, unmount the data partition and restart the board.
func (s *supervisor) onSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM)
	<-ch
	say("reboot requested")
	s.stop()
	unix.Sync()
	if err := unix.Unmount(s.data, 0); err != nil {
		say("unmount %s: %v", s.data, err)
	}
	say("rebooting")
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
}

// systemctl is the init run as /bin/systemctl: "systemctl reboot" asks PID
// 1 to reboot the board; nothing else is known.
func systemctl(args []string) int {
	if len(args) != 1 || args[0] != "reboot" {
		fmt.Fprintf(os.Stderr, "systemctl (einwurf virtual board): only \"reboot\" is known, not %q\n", args)
		return 1
	}
	if err := unix.Kill(1, unix.SIGTERM); err != nil {
		fmt.Fprintln(os.Stderr, "systemctl reboot:", err)
		return 1
	}
	return 0
}

// probe runs the device probe (/bin/vmprobe, vm/cmd/vmprobe) with the
// environment's vm_probe as its arguments, before the service starts, with
// its output on the console: the device tests (vm/devices_test.go) read the
// simulated devices through the kiosk's own drivers with it.
func probe(args string) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/vmprobe", strings.Fields(args)...)
	cmd.Env = []string{"PATH=/bin", "TMPDIR=/tmp"}
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stdout
	if err := cmd.Run(); err != nil && cmd.ProcessState == nil {
		say("probe: %v", err)
	}
	say("probe exit %d", cmd.ProcessState.ExitCode()) // -1 if it did not start
}

// Command init is PID 1 of the virtual kiosk board (make vm): the Go init in
// each root slot's initramfs. It mounts /dev, /proc, /sys, loads the virtio
// and ext4 modules from Debian's kernel package, reads the U-Boot
// environment block on the virtio disk (the ota/ubootenv package, the same
// format fw_printenv reads), starts the kiosk service and waits for it to
// report ready, then runs the slot's health check:
//
//   - healthy and on trial (upgrade_available=1): commits the slot with the
//     kiosk's own ota.Slots.Commit (upgrade_available=0, bootcount=0);
//   - unhealthy (the slot's /etc/einwurf-vm/health says "fail", or the
//     service did not come up): reboots without committing, so U-Boot's boot
//     counter falls back to the other slot.
//
// Then it powers the board off when the environment says vm_after_ready=poweroff
// (the test's way to end a boot), else it stays up until the service exits.
// Every step prints one "einwurf-vm: " line on the console for the test.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/einwurf/einwurf/ota"
	"github.com/einwurf/einwurf/ota/durable"
	"github.com/einwurf/einwurf/ota/ubootenv"
)

// envConfig is where the environment block lives on the disk (vm/build.sh
// writes it there, fw_env.config on the host names the same offset).
const envConfig = "/dev/vda 0x100000 0x4000\n"

// modules are loaded in this order (their dependencies first; Debian's
// package has no modules.dep, depmod runs at install).
var modules = []string{
	"virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci", "virtio_blk",
	"crc16", "mbcache", "crc32c_generic", "jbd2", "ext4",
}

func main() {
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
	for _, m := range modules {
		if err := loadModule("/lib/modules/" + m + ".ko"); err != nil {
			return fmt.Errorf("module %s: %w", m, err)
		}
	}
	// The simulated devices' modules (vm/devices.modules, in load order;
	// vm/devices.md): USB host, configfs, gpio-sim.
	if extra, err := os.ReadFile("/etc/einwurf-vm/modules"); err == nil {
		for _, m := range strings.Fields(string(extra)) {
			if err := loadModule("/lib/modules/" + m + ".ko"); err != nil {
				return fmt.Errorf("module %s: %w", m, err)
			}
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

	if err := loopbackUp(); err != nil {
		return err
	}
	data := "/data"
	if err := mountData(data); err != nil {
		return err
	}
	if p, _ := env.Get("vm_probe"); p != "" {
		probe(p)
	}
	healthy, detail := service(data)
	say("service %s after %d ms since init", detail, time.Since(start).Milliseconds())
	if health, _ := os.ReadFile("/etc/einwurf-vm/health"); strings.TrimSpace(string(health)) == "fail" {
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
		return afterReady(env)
	}
	if trial == "1" {
		if err := slots.Commit(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		say("committed slot %s", slot)
	}
	say("ready slot=%s ms=%d", slot, time.Since(start).Milliseconds())
	return afterReady(env)
}

// afterReady powers off when the environment says vm_after_ready=poweroff,
// else it keeps the board (and its service) running.
func afterReady(env *ubootenv.Env) error {
	if after, _ := env.Get("vm_after_ready"); after == "poweroff" {
		unix.Sync()
		say("power off")
		return unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	}
	select {}
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

// loopbackUp brings up lo: the service listens on 127.0.0.1 (the board has
// no other network).
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo up: %w", err)
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

// service starts the slot's kiosk service (/etc/einwurf-vm/service: the
// command line) and waits up to 60 s for its ready line (a line starting
// with "einwurf", any case), copying its output to the console.
func service(data string) (bool, string) {
	line, err := os.ReadFile("/etc/einwurf-vm/service")
	if err != nil {
		return false, "no service configured"
	}
	args := strings.Fields(strings.ReplaceAll(string(line), "$DATA", data))
	if len(args) == 0 {
		return false, "empty service line"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = []string{"PATH=/bin", "HOME=" + data, "TMPDIR=/tmp", "RUNTIME_DIRECTORY=/run"}
	cmd.Stderr = os.Stdout
	out, err := cmd.StdoutPipe()
	if err != nil {
		return false, err.Error()
	}
	if err := cmd.Start(); err != nil {
		return false, "start: " + err.Error()
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			os.Stdout.Write(append(bytes.Clone(sc.Bytes()), '\n'))
			if strings.HasPrefix(strings.ToLower(sc.Text()), "einwurf") {
				select {
				case ready <- sc.Text():
				default:
				}
			}
		}
		close(ready)
	}()
	select {
	case l, ok := <-ready:
		if !ok {
			return false, "exited before ready"
		}
		return true, "ready (" + l + ")"
	case <-ctx.Done():
		return false, "not ready in 60 s"
	}
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

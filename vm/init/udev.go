package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"golang.org/x/sys/unix"
)

// Debian's udev on the board (vm/build.sh copies it from the udev package):
// systemd-udevd is a link to udevadm, as the package installs it.
const (
	udevd       = "/lib/systemd/systemd-udevd"
	udevadm     = "/bin/udevadm"
	udevControl = "/run/udev/control" // udevd's control socket: it is up
)

// udevSettle bounds udevadm settle (the coldplug's events processed).
const udevSettle = 30 * time.Second

// startUdev starts Debian's systemd-udevd before the service, as
// systemd-udevd.service and systemd-udev-trigger.service do on the kiosk:
// udevd as a child the init restarts when it exits (the unit's
// Restart=always), then "udevadm trigger --action=add" for subsystems and
// devices (coldplug) and "udevadm settle" with a bound, beside the service. udevd re-broadcasts
// the kernel's uevents, after its rules, to libudev's monitors: that is
// how the kiosk's libusb (drivers/usb) learns of a scanner plugged while
// einwurfd runs. Without it libusb knows only the devices there at its
// start (vm/devices.md). vm_udev=off in the environment leaves it out
// (the board as it was before, to show what it changes).
func startUdev(ctx context.Context, mode string) {
	if mode == "off" {
		say("udevd off (vm_udev=off)")
		return
	}
	if _, err := os.Stat(udevd); err != nil {
		say("udevd: %v", err)
		return
	}
	start := time.Now()
	_ = os.Remove(udevControl)
	go superviseUdevd(ctx)
	if err := waitFor(udevControl, 20*time.Second); err != nil {
		say("udevd: %v", err)
		return
	}
	say("udevd up after %d ms", time.Since(start).Milliseconds())
	// The coldplug runs beside the service, as systemd-udev-trigger.service
	// does beside einwurfd.service (which is After= systemd-udevd.service
	// only): libusb lists the devices already there from sysfs, and hears
	// of later ones from udevd however far the coldplug has come.
	go func() {
		for _, typ := range []string{"subsystems", "devices"} {
			if err := udevadmRun(ctx, udevSettle, "trigger", "--type="+typ, "--action=add"); err != nil {
				say("udevadm trigger --type=%s: %v", typ, err)
			}
		}
		if err := udevadmRun(ctx, udevSettle+5*time.Second, "settle", fmt.Sprintf("--timeout=%d", int(udevSettle.Seconds()))); err != nil {
			say("udevadm settle: %v", err)
		}
		say("udev coldplug settled after %d ms", time.Since(start).Milliseconds())
	}()
}

// superviseUdevd runs systemd-udevd in the foreground and starts it again
// 1 s after it exits, until ctx ends.
func superviseUdevd(ctx context.Context) {
	for ctx.Err() == nil {
		err := runNiced(exec.CommandContext(ctx, udevd), "PATH=/usr/bin:/bin:/lib/udev", "SYSTEMD_LOG_LEVEL=notice")
		if ctx.Err() != nil {
			return
		}
		say("udevd exited: %v; restarting", err)
		time.Sleep(time.Second)
	}
}

// udevadmRun runs udevadm with args, bounded by limit.
func udevadmRun(ctx context.Context, limit time.Duration, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	err := runNiced(exec.CommandContext(ctx, udevadm, args...), "PATH=/usr/bin:/bin")
	if ctx.Err() != nil {
		return errors.Join(err, ctx.Err())
	}
	return err
}

// runNiced runs a udev program with env (and its log on the console) at
// nice 19, which the workers udevd forks inherit: the board's one emulated
// CPU goes to einwurfd first. The coldplug of the board's ~190 devices
// takes 10-13 s of it under TCG (measured with the service beside it or
// not), which would otherwise slow einwurfd's start; a hot-plug event is
// one event and waits for nothing but the CPU.
func runNiced(cmd *exec.Cmd, env ...string) error {
	cmd.Env = append(env, "SYSTEMD_LOG_TARGET=console")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stdout
	if err := cmd.Start(); err != nil {
		return err
	}
	if err := unix.Setpriority(unix.PRIO_PROCESS, cmd.Process.Pid, 19); err != nil {
		say("udev: nice: %v", err)
	}
	return cmd.Wait()
}

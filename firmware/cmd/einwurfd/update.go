package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/einwurf/einwurf/firmware/appliance"
	"github.com/einwurf/einwurf/firmware/config"
	"github.com/einwurf/einwurf/firmware/update"
)

// checkUpdate reads what root file system updates need from the running
// system (U-Boot's environment, the booted slot, the version), writing
// nothing: a start and -check-config refuse a configuration that does not
// fit the system before anything is created.
func checkUpdate(cfg config.Config, data string) error {
	if cfg.Update == nil || cfg.Update.Rootfs == nil {
		return nil
	}
	r := cfg.Update.Rootfs.WithDefaults(data)
	if _, err := update.LoadRootfs(update.RootfsConfig{SlotA: r.SlotA, SlotB: r.SlotB, FWEnvConfig: r.FWEnvConfig,
		Cmdline: r.Cmdline, VersionFile: r.VersionFile, Dir: r.Dir}, nil); err != nil {
		return fmt.Errorf("%w: update.rootfs: %v", config.ErrInvalid, err)
	}
	return nil
}

// updateParts configures updates when the configuration asks for them
// (nil otherwise): of the application bundle when einwurf-launch started
// einwurfd from a slot, of the root file system when update.rootfs names
// its partitions (its switch reboots the board through Parts.Reboot). A
// restart into a switched application slot is a SIGTERM to itself:
// einwurfd ends cleanly and systemd starts the launcher again.
func updateParts(cfg config.Config, data string, log *slog.Logger) (*appliance.UpdateParts, error) {
	u := cfg.Update
	if u == nil {
		return nil, nil
	}
	dir, slot, err := update.FromEnvironment()
	if errors.Is(err, update.ErrNotLaunched) {
		dir, slot = "", ""
		if u.Rootfs == nil {
			log.Warn("einwurfd: updates configured, but not started by einwurf-launch: no updates")
			return nil, nil
		}
		log.Warn("einwurfd: not started by einwurf-launch: root file system updates only")
	}
	root, err := os.ReadFile(u.Root)
	if err != nil {
		return nil, fmt.Errorf("update: TUF root: %w", err)
	}
	p := &appliance.UpdateParts{
		Settings: update.Settings{Dir: dir, MetadataURL: u.MetadataURL, TargetsURL: u.TargetsURL, Window: u.Window,
			Transport: u.Transport},
		Booted: slot, RootJSON: root, HealthDeadline: time.Duration(u.HealthDeadline),
		Restart: func() error { return syscall.Kill(os.Getpid(), syscall.SIGTERM) },
	}
	if r := u.Rootfs; r != nil {
		r := r.WithDefaults(data)
		p.Rootfs = &update.RootfsConfig{SlotA: r.SlotA, SlotB: r.SlotB, FWEnvConfig: r.FWEnvConfig,
			Cmdline: r.Cmdline, VersionFile: r.VersionFile, Dir: r.Dir}
	}
	return p, nil
}

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

// updateParts configures updates of the application bundle when the
// configuration asks for them and einwurf-launch started einwurfd from a
// slot (nil otherwise). A restart into the switched slot is a SIGTERM to
// itself: einwurfd ends cleanly and systemd starts the launcher again.
func updateParts(cfg config.Config, log *slog.Logger) (*appliance.UpdateParts, error) {
	u := cfg.Update
	if u == nil {
		return nil, nil
	}
	dir, slot, err := update.FromEnvironment()
	if errors.Is(err, update.ErrNotLaunched) {
		log.Warn("einwurfd: updates configured, but not started by einwurf-launch: no updates")
		return nil, nil
	}
	root, err := os.ReadFile(u.Root)
	if err != nil {
		return nil, fmt.Errorf("update: TUF root: %w", err)
	}
	return &appliance.UpdateParts{
		Settings: update.Settings{Dir: dir, MetadataURL: u.MetadataURL, TargetsURL: u.TargetsURL, Window: u.Window},
		Booted:   slot, RootJSON: root, HealthDeadline: time.Duration(u.HealthDeadline),
		Restart: func() error { return syscall.Kill(os.Getpid(), syscall.SIGTERM) },
	}, nil
}

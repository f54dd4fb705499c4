package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/einwurf/einwurf/firmware/appliance"
)

// launchFileName is the file in systemd's RUNTIME_DIRECTORY that holds the
// URL the kiosk's browser is started with.
const launchFileName = "ui-launch-url"

// keepLaunchURL writes a fresh one-time UI launch URL to path now and every
// minute (each is good for two minutes), for the kiosk's browser launcher to
// read: the URL gives that browser the cookie the visit's thumbnails need.
// The file is readable by the owner and group only (the browser's user is
// in the group); it holds no personal data.
func keepLaunchURL(ctx context.Context, a *appliance.Appliance, path string) error {
	write := func() error {
		url := strings.TrimSuffix(a.UIURL, "/") + a.UILaunch() + "\n"
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(url), 0o640); err != nil {
			return fmt.Errorf("ui launch file: %w", err)
		}
		return os.Rename(tmp, path)
	}
	if err := write(); err != nil {
		return err
	}
	go func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				os.Remove(path)
				return
			case <-t.C:
				write()
			}
		}
	}()
	return nil
}

// launchFile is where the launch URL goes: the flag's path, else
// $RUNTIME_DIRECTORY/ui-launch-url under systemd, else nowhere.
func launchFile(flag string) string {
	if flag != "" {
		return flag
	}
	if d := os.Getenv("RUNTIME_DIRECTORY"); d != "" {
		return filepath.Join(strings.Split(d, ":")[0], launchFileName)
	}
	return ""
}

package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/einwurf/einwurf/vm/gpiosim"
)

// boardProfile is the board profile einwurfd's configuration names
// (vm/build.sh copies vm/board-vm.json there).
const boardProfile = "/etc/einwurf/board-vm.json"

// panelSetup: with vm_panel=gpiosim in the environment the panel's lines
// are a gpio-sim chip (vm/devices.md): the init creates it through configfs
// with the names of vm/gpiosim/panel.json and puts that profile in place
// of the board's, so that einwurfd's board and panel take the simulator's
// lines. Without it, nothing changes (nil chip).
func panelSetup(panel string) (*gpiosim.Chip, error) {
	if panel != "gpiosim" {
		return nil, nil
	}
	if err := unix.Mount("configfs", "/sys/kernel/config", "configfs", 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
		return nil, fmt.Errorf("mount configfs: %w", err)
	}
	p, err := gpiosim.Panel()
	if err != nil {
		return nil, err
	}
	c, err := gpiosim.Setup(p, gpiosim.ConfigFS, gpiosim.Platform)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(boardProfile, gpiosim.PanelJSON(), 0o644); err != nil {
		return nil, fmt.Errorf("panel profile: %w", err)
	}
	say("panel on gpio-sim %s (%s), board profile %s", c.Name, c.Label, p.Name)
	return c, nil
}

// panelPlay is a person at the running kiosk: turns the service key, waits
// until the service shows service mode on the lights (amber), returns the
// key and waits until the amber light goes out. Each step is one console
// line with its time.
func panelPlay(c *gpiosim.Chip) {
	step := func(what, light string, on bool) bool {
		start := time.Now()
		for time.Since(start) < 20*time.Second {
			if v, err := c.Value(light); err == nil && v == on {
				say("panel: %s: %s=%v after %d ms", what, light, on, time.Since(start).Milliseconds())
				return true
			}
			time.Sleep(20 * time.Millisecond)
		}
		say("panel: %s: %s not %v in 20 s", what, light, on)
		return false
	}
	if !step("before the key", "LIGHT_AMBER", false) { // amber is service mode's (or blinks for attention)
		return
	}
	if err := c.SetPull("SERVICE_KEY", false); err != nil {
		say("panel: %v", err)
		return
	}
	if !step("service key turned", "LIGHT_AMBER", true) {
		return
	}
	if err := c.SetPull("SERVICE_KEY", true); err != nil {
		say("panel: %v", err)
		return
	}
	step("service key returned", "LIGHT_AMBER", false)
}

// Package boot holds the U-Boot boot script of the A/B root file system
// (boot.cmd, described in docs/update.md) and what the kiosk reads of the
// boot: the slot the kernel command line names.
package boot

import (
	_ "embed"
	"errors"
	"strings"
)

// Script is boot.cmd, the script's source.
//
//go:embed boot.cmd
var Script string

// ErrNoSlot is returned for a kernel command line naming no slot.
var ErrNoSlot = errors.New("boot: no einwurf.slot on the kernel command line")

// SlotFromCmdline returns the slot (a or b) of einwurf.slot= on a kernel
// command line (/proc/cmdline), as boot.cmd sets it.
func SlotFromCmdline(cmdline string) (string, error) {
	for _, f := range strings.Fields(cmdline) {
		if v, ok := strings.CutPrefix(f, "einwurf.slot="); ok && (v == "a" || v == "b") {
			return v, nil
		}
	}
	return "", ErrNoSlot
}

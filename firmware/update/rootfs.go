package update

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/einwurf/einwurf/ota"
	"github.com/einwurf/einwurf/ota/boot"
	"github.com/einwurf/einwurf/ota/durable"
	"github.com/einwurf/einwurf/ota/ubootenv"
)

// ErrRootfs is returned for a root file system update configuration that
// does not fit the running system.
var ErrRootfs = errors.New("update: root file system")

// Rootfs is a root file system A/B pair as the running system sees it.
type Rootfs struct {
	// Dir holds the machine's state, its TUF metadata and the slots'
	// block indexes: a folder on the writable data partition.
	Dir string
	// Slots are the partitions and the U-Boot environment.
	Slots ota.Slots
	// Booted is the slot the kernel was started from, Version the running
	// root file system's version.
	Booted, Version string
	// Reboot restarts the board into the switched slot
	// (appliance.Parts.Reboot).
	Reboot func(context.Context) error
}

// RootfsConfig names where the running system keeps what a root file
// system update needs (config.UpdateRootfs, with defaults filled in).
type RootfsConfig struct {
	// SlotA and SlotB are the partitions' block devices (/dev/mmcblk0p2).
	SlotA, SlotB string
	// FWEnvConfig is U-Boot's environment as fw_printenv knows it
	// (/etc/fw_env.config).
	FWEnvConfig string
	// Cmdline is the kernel command line (/proc/cmdline); boot.cmd puts
	// einwurf.slot= on it.
	Cmdline string
	// VersionFile holds the root file system's version: an os-release
	// file (IMAGE_VERSION=, /etc/os-release) or a file of the version
	// alone.
	VersionFile string
	// Dir is the machine's state folder on the data partition.
	Dir string
}

// LoadRootfs reads the running system's side of root file system updates:
// the environment's fw_env.config, the booted slot from the kernel command
// line, the version. It checks that the environment is readable and names
// a slot, and writes nothing.
func LoadRootfs(c RootfsConfig, reboot func(context.Context) error) (Rootfs, error) {
	fsys := durable.OS{}
	if c.SlotA == "" || c.SlotB == "" || filepath.Clean(c.SlotA) == filepath.Clean(c.SlotB) {
		return Rootfs{}, fmt.Errorf("%w: slots a and b must be two partitions", ErrRootfs)
	}
	conf, err := os.ReadFile(c.FWEnvConfig)
	if err != nil {
		return Rootfs{}, fmt.Errorf("%w: fw_env_config: %v", ErrRootfs, err)
	}
	env, err := ubootenv.ParseConfig(conf)
	if err != nil {
		return Rootfs{}, fmt.Errorf("%w: fw_env_config %s: %w", ErrRootfs, c.FWEnvConfig, err)
	}
	cmd, err := os.ReadFile(c.Cmdline)
	if err != nil {
		return Rootfs{}, fmt.Errorf("%w: cmdline: %v", ErrRootfs, err)
	}
	booted, err := boot.SlotFromCmdline(string(cmd))
	if err != nil {
		return Rootfs{}, fmt.Errorf("%w: cmdline %s: %w", ErrRootfs, c.Cmdline, err)
	}
	vb, err := os.ReadFile(c.VersionFile)
	if err != nil {
		return Rootfs{}, fmt.Errorf("%w: version_file: %v", ErrRootfs, err)
	}
	version := ParseVersionFile(vb)
	if version == "" {
		return Rootfs{}, fmt.Errorf("%w: version_file %s names no version (IMAGE_VERSION=)", ErrRootfs, c.VersionFile)
	}
	slots := ota.RootfsSlots(fsys, env, c.SlotA, c.SlotB)
	if _, err := slots.Read(); err != nil {
		return Rootfs{}, fmt.Errorf("%w: the U-Boot environment of fw_env_config %s: %w", ErrRootfs, c.FWEnvConfig, err)
	}
	return Rootfs{Dir: c.Dir, Slots: slots, Booted: booted, Version: version, Reboot: reboot}, nil
}

// ParseVersionFile returns the version a file names: IMAGE_VERSION= of an
// os-release file (quotes removed), else the file's only line; "" when
// there is none.
func ParseVersionFile(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for _, l := range lines {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "IMAGE_VERSION="); ok {
			return strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	if len(lines) == 1 && !bytes.ContainsAny([]byte(lines[0]), "= \t") {
		return strings.TrimSpace(lines[0])
	}
	return ""
}

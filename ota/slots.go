package ota

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/einwurf/einwurf/ota/durable"
	"github.com/einwurf/einwurf/ota/ubootenv"
)

// Variables of the boot environment (U-Boot's for the root file system, a
// file in the same format for the application slots).
const (
	VarSlot      = "boot_slot"         // "a" or "b": the slot to boot
	VarUpgrade   = "upgrade_available" // "1" while the slot is on trial
	VarBootCount = "bootcount"         // boots on trial so far
	VarBootLimit = "bootlimit"         // boots on trial before falling back
	VarRollback  = "rollback"          // set by the boot loader when it fell back
)

// Payload kinds (the targets' custom "kind" and wire.UpdateOffer.Kind).
const (
	KindBundle = "bundle"
	KindRootfs = "rootfs"
)

// DefaultBootLimit is the number of boots a slot on trial gets.
const DefaultBootLimit = 3

// ErrSlots is returned for a boot environment that names no valid slot.
var ErrSlots = errors.New("ota: bad boot environment")

// Slots is an A/B pair: where each slot's image lives and the boot
// environment that says which one boots.
type Slots struct {
	FS   durable.FS
	Kind string // KindBundle or KindRootfs
	// Env is the boot environment's fw_env.config.
	Env ubootenv.Config
	// Image is each slot's raw image: a file (bundle) or a partition
	// (rootfs), keyed "a" and "b".
	Image map[string]string
	// Tree is, for bundles, the folder each slot's bundle is unpacked into
	// (Tree+"/a", Tree+"/b").
	Tree string
}

// Other returns the other slot.
func Other(slot string) string {
	if slot == "a" {
		return "b"
	}
	return "a"
}

func validSlot(s string) bool { return s == "a" || s == "b" }

// BootEnv is the boot environment's state.
type BootEnv struct {
	Slot      string
	Trial     bool
	BootCount int
	BootLimit int
	Rollback  bool
}

func (s Slots) open() (*ubootenv.Env, error) { return ubootenv.OpenFS(s.FS, s.Env) }

// Init writes a fresh boot environment booting slot (when none is valid).
func (s Slots) Init(slot string) error {
	if _, err := s.open(); err == nil {
		return nil
	}
	_, err := ubootenv.CreateFS(s.FS, s.Env, map[string]string{VarSlot: slot, VarUpgrade: "0",
		VarBootCount: "0", VarBootLimit: strconv.Itoa(DefaultBootLimit)})
	return err
}

// Read returns the boot environment's state.
func (s Slots) Read() (BootEnv, error) {
	e, err := s.open()
	if err != nil {
		return BootEnv{}, err
	}
	return readEnv(e)
}

func readEnv(e *ubootenv.Env) (BootEnv, error) {
	var b BootEnv
	b.Slot, _ = e.Get(VarSlot)
	if !validSlot(b.Slot) {
		return b, fmt.Errorf("%w: %s=%q", ErrSlots, VarSlot, b.Slot)
	}
	up, _ := e.Get(VarUpgrade)
	b.Trial = up == "1"
	c, _ := e.Get(VarBootCount)
	b.BootCount, _ = strconv.Atoi(c)
	l, _ := e.Get(VarBootLimit)
	if n, err := strconv.Atoi(l); err == nil && n > 0 {
		b.BootLimit = n
	} else {
		b.BootLimit = DefaultBootLimit
	}
	r, _ := e.Get(VarRollback)
	b.Rollback = r != "" && r != "0"
	return b, nil
}

func (s Slots) set(vars map[string]string) error {
	e, err := s.open()
	if err != nil {
		return err
	}
	return e.Set(vars)
}

// SwitchTo puts slot on trial: it boots next, at most bootlimit times
// until committed.
func (s Slots) SwitchTo(slot string) error {
	return s.set(map[string]string{VarSlot: slot, VarUpgrade: "1", VarBootCount: "0", VarRollback: ""})
}

// Commit ends the trial: the booted slot stays.
func (s Slots) Commit() error {
	return s.set(map[string]string{VarUpgrade: "0", VarBootCount: "0"})
}

// FallBack ends the trial by booting slot (the one that was good) again.
func (s Slots) FallBack(slot string) error {
	return s.set(map[string]string{VarSlot: slot, VarUpgrade: "0", VarBootCount: "0"})
}

// Boot is what the boot loader does (docs/update.md's boot.cmd does the
// same in U-Boot; the application launcher calls Boot): on trial it counts
// the boot, and past the limit it falls back to the other slot. It returns
// the slot to boot.
func (s Slots) Boot() (string, error) {
	e, err := s.open()
	if err != nil {
		return "", err
	}
	b, err := readEnv(e)
	if err != nil {
		return "", err
	}
	if !b.Trial {
		return b.Slot, nil
	}
	b.BootCount++
	if b.BootCount > b.BootLimit {
		slot := Other(b.Slot)
		return slot, e.Set(map[string]string{VarSlot: slot, VarUpgrade: "0", VarBootCount: "0", VarRollback: "1"})
	}
	return b.Slot, e.Set(map[string]string{VarBootCount: strconv.Itoa(b.BootCount)})
}

// Package gpiosim sets up the virtual board's panel lines on the kernel's
// GPIO simulator (gpio-sim, built for Debian's kernel by build.sh here):
// one chip through configfs whose lines carry the names of a board profile
// (Panel, panel.json), so that the kiosk's board package finds them by name
// as on a real board, and the simulator's sysfs attributes to play the
// outside world: the pull that a turned key or an opened case puts on an
// input, and the level the kiosk drives on an output.
package gpiosim

import (
	_ "embed"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/einwurf/einwurf/board"
)

//go:embed panel.json
var panelJSON []byte

// Panel is the board profile of the panel on gpio-sim (panel.json).
func Panel() (board.Profile, error) { return board.ParseProfile(panelJSON) }

// PanelJSON is panel.json as is, for a service that loads its profile
// from a file.
func PanelJSON() []byte { return slices.Clone(panelJSON) }

// Paths where the kernel has the simulator.
const (
	// ConfigFS is gpio-sim's configfs directory.
	ConfigFS = "/sys/kernel/config/gpio-sim"
	// Platform is where its devices appear in sysfs.
	Platform = "/sys/devices/platform"
)

// ErrNotLive means the chip did not come up (the module refused the
// configuration).
var ErrNotLive = errors.New("gpiosim: chip not live")

// Chip is one live simulated chip.
type Chip struct {
	// Name is the kernel's name of the chip ("gpiochip1").
	Name string
	// Label is its label (the profile's chip).
	Label string
	// Lines are the line names by offset.
	Lines []string
	dir   string // its sysfs directory, with the sim_gpio<N> attributes
	cfg   string // its configfs directory
}

// Setup creates a chip named after the profile's chip, with one line per
// line the profile names (in the profile's signal order) and the chip's
// label set to the profile's chip, under configfs root cfgRoot and sysfs
// root sysRoot (ConfigFS and Platform on the board).
func Setup(p board.Profile, cfgRoot, sysRoot string) (*Chip, error) {
	if p.Chip == "" {
		return nil, fmt.Errorf("gpiosim: profile %s names no chip", p.Name)
	}
	var names []string
	for _, s := range slices.Sorted(maps.Keys(p.Lines)) {
		l := p.Lines[s]
		if l.Name == "" || l.Chip != "" && l.Chip != p.Chip {
			return nil, fmt.Errorf("gpiosim: %s: lines on the simulator need a name and the profile's chip", s)
		}
		names = append(names, l.Name)
	}
	c := &Chip{Label: p.Chip, Lines: names, cfg: filepath.Join(cfgRoot, p.Chip)}
	bank := filepath.Join(c.cfg, "bank0")
	if err := os.MkdirAll(bank, 0o755); err != nil {
		return nil, fmt.Errorf("gpiosim: %w", err)
	}
	steps := [][2]string{{filepath.Join(bank, "label"), p.Chip}, {filepath.Join(bank, "num_lines"), strconv.Itoa(len(names))}}
	for i, n := range names {
		line := filepath.Join(bank, "line"+strconv.Itoa(i))
		if err := os.MkdirAll(line, 0o755); err != nil {
			return nil, fmt.Errorf("gpiosim: %w", err)
		}
		steps = append(steps, [2]string{filepath.Join(line, "name"), n})
	}
	steps = append(steps, [2]string{filepath.Join(c.cfg, "live"), "1"})
	for _, s := range steps {
		if err := os.WriteFile(s[0], []byte(s[1]), 0o644); err != nil {
			return nil, fmt.Errorf("gpiosim: %w", err)
		}
	}
	dev, err1 := os.ReadFile(filepath.Join(c.cfg, "dev_name"))
	chip, err2 := os.ReadFile(filepath.Join(bank, "chip_name"))
	c.Name = strings.TrimSpace(string(chip))
	if err := errors.Join(err1, err2); err != nil || c.Name == "" || strings.TrimSpace(string(dev)) == "" {
		return nil, fmt.Errorf("%w: %v", ErrNotLive, err)
	}
	c.dir = filepath.Join(sysRoot, strings.TrimSpace(string(dev)), c.Name)
	return c, nil
}

// Offset is the offset of the line called name.
func (c *Chip) Offset(name string) (int, error) {
	if i := slices.Index(c.Lines, name); i >= 0 {
		return i, nil
	}
	return 0, fmt.Errorf("gpiosim: chip %s has no line %q", c.Label, name)
}

// SetPull sets the pull the outside world puts on an input: up (high) or
// down (low).
func (c *Chip) SetPull(name string, up bool) error {
	off, err := c.Offset(name)
	if err != nil {
		return err
	}
	v := "pull-down"
	if up {
		v = "pull-up"
	}
	if err := os.WriteFile(filepath.Join(c.dir, "sim_gpio"+strconv.Itoa(off), "pull"), []byte(v), 0o644); err != nil {
		return fmt.Errorf("gpiosim: %w", err)
	}
	return nil
}

// Value reads the level of a line (what the kiosk drives on an output).
func (c *Chip) Value(name string) (bool, error) {
	off, err := c.Offset(name)
	if err != nil {
		return false, err
	}
	b, err := os.ReadFile(filepath.Join(c.dir, "sim_gpio"+strconv.Itoa(off), "value"))
	if err != nil {
		return false, fmt.Errorf("gpiosim: %w", err)
	}
	return strings.TrimSpace(string(b)) == "1", nil
}

// Close takes the chip down and removes its configuration.
func (c *Chip) Close() error {
	err := os.WriteFile(filepath.Join(c.cfg, "live"), []byte("0"), 0o644)
	bank := filepath.Join(c.cfg, "bank0")
	for i := range c.Lines {
		err = errors.Join(err, os.Remove(filepath.Join(bank, "line"+strconv.Itoa(i))))
	}
	return errors.Join(err, os.Remove(bank), os.Remove(c.cfg))
}

package board

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"periph.io/x/conn/v3/gpio"
)

//go:embed profiles/*.json
var builtin embed.FS

// maxProfileSize bounds what is read from a profile file.
const maxProfileSize = 64 << 10

// Profile says which GPIO line carries which signal on one kind of board,
// plus the board's other device paths. It is loaded from a JSON data file.
type Profile struct {
	// Name is the profile's name, e.g. "rpi4".
	Name string `json:"name"`
	// Description says which boards the profile fits.
	Description string `json:"description,omitempty"`
	// Chip is the default GPIO chip for lines that name none: a chip name
	// ("gpiochip0") or label ("pinctrl-bcm2711").
	Chip string `json:"chip,omitempty"`
	// Lines maps signals to lines.
	Lines map[Signal]LineSpec `json:"lines"`
	// Serial is the UART of a 2D imager, e.g. "/dev/ttyAMA0".
	Serial string `json:"serial,omitempty"`
	// Watchdog is the hardware watchdog device, e.g. "/dev/watchdog".
	Watchdog string `json:"watchdog,omitempty"`
	// ThermalZone is the SoC temperature file, e.g.
	// "/sys/class/thermal/thermal_zone0/temp".
	ThermalZone string `json:"thermal_zone,omitempty"`
}

// LineSpec names one GPIO line: by Name, or by Offset on its chip.
type LineSpec struct {
	// Chip overrides the profile's default chip.
	Chip string `json:"chip,omitempty"`
	// Name is the line name the kernel reports (e.g. "GPIO17").
	Name string `json:"name,omitempty"`
	// Offset is the line offset on the chip; used when Name is empty.
	Offset *int `json:"offset,omitempty"`
	// ActiveLow means the signal is asserted by a low level.
	ActiveLow bool `json:"active_low,omitempty"`
	// Pull is "up", "down", "none" or "" (leave as is) for inputs.
	Pull string `json:"pull,omitempty"`
}

// GPIOPull returns the periph pull for the spec.
func (l LineSpec) GPIOPull() gpio.Pull {
	switch l.Pull {
	case "up":
		return gpio.PullUp
	case "down":
		return gpio.PullDown
	case "none":
		return gpio.Float
	}
	return gpio.PullNoChange
}

// ParseProfile decodes and checks a profile. Unknown fields, unknown
// signals, a line named both by name and offset or by neither, a bad pull
// and a line used by two signals are refused with an error wrapping
// ErrProfile.
func ParseProfile(data []byte) (Profile, error) {
	var p Profile
	if len(data) > maxProfileSize {
		return Profile{}, fmt.Errorf("%w: larger than %d bytes", ErrProfile, maxProfileSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Profile{}, fmt.Errorf("%w: %v", ErrProfile, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Profile{}, fmt.Errorf("%w: data after the profile", ErrProfile)
	}
	if err := p.Validate(); err != nil {
		return Profile{}, err
	}
	return p, nil
}

// Validate checks what can be checked without the hardware; Resolve checks
// the rest against the board's chips.
func (p Profile) Validate() error {
	if p.Name == "" {
		return fmt.Errorf("%w: no name", ErrProfile)
	}
	if len(p.Lines) == 0 {
		return fmt.Errorf("%w %s: no lines", ErrProfile, p.Name)
	}
	seen := map[string]Signal{}
	for _, s := range p.sortedSignals() {
		l := p.Lines[s]
		if !s.Known() {
			return fmt.Errorf("%w %s: unknown signal %q", ErrProfile, p.Name, s)
		}
		chip := l.Chip
		if chip == "" {
			chip = p.Chip
		}
		var key string
		switch {
		case l.Name != "" && l.Offset != nil:
			return fmt.Errorf("%w %s: %s names both a line name and an offset", ErrProfile, p.Name, s)
		case l.Name != "":
			key = chip + "\x00name\x00" + l.Name
		case l.Offset != nil:
			if *l.Offset < 0 {
				return fmt.Errorf("%w %s: %s has negative offset %d", ErrProfile, p.Name, s, *l.Offset)
			}
			if chip == "" {
				return fmt.Errorf("%w %s: %s names an offset but no chip", ErrProfile, p.Name, s)
			}
			key = fmt.Sprintf("%s\x00offset\x00%d", chip, *l.Offset)
		default:
			return fmt.Errorf("%w %s: %s names no line", ErrProfile, p.Name, s)
		}
		switch l.Pull {
		case "", "up", "down", "none":
		default:
			return fmt.Errorf("%w %s: %s has unknown pull %q", ErrProfile, p.Name, s, l.Pull)
		}
		if other, dup := seen[key]; dup {
			return fmt.Errorf("%w %s: %s and %s use the same line", ErrProfile, p.Name, other, s)
		}
		seen[key] = s
	}
	return nil
}

func (p Profile) sortedSignals() []Signal {
	ss := make([]Signal, 0, len(p.Lines))
	for s := range p.Lines {
		ss = append(ss, s)
	}
	sort.Slice(ss, func(i, j int) bool { return ss[i] < ss[j] })
	return ss
}

// BuiltinProfiles lists the names of the embedded profiles.
func BuiltinProfiles() []string {
	ents, err := builtin.ReadDir("profiles")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range ents {
		names = append(names, strings.TrimSuffix(e.Name(), ".json"))
	}
	return names
}

// LoadProfile returns the embedded profile called name ("rpi4", "cm4",
// "generic", "sim"), or, when name contains a path separator or ends in
// ".json", the profile in that file.
func LoadProfile(name string) (Profile, error) {
	var (
		data []byte
		err  error
	)
	if strings.ContainsRune(name, os.PathSeparator) || strings.HasSuffix(name, ".json") {
		data, err = readLimited(name)
	} else {
		data, err = builtin.ReadFile("profiles/" + name + ".json")
		if err != nil {
			return Profile{}, fmt.Errorf("%w: no built-in profile %q (have %s)", ErrProfile, name, strings.Join(BuiltinProfiles(), ", "))
		}
	}
	if err != nil {
		return Profile{}, err
	}
	return ParseProfile(data)
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("board: open profile: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxProfileSize+1))
	if err != nil {
		return nil, fmt.Errorf("board: read profile: %w", err)
	}
	return data, nil
}

// ChipInfo describes one GPIO chip for Resolve: its kernel name, label and
// the names of its lines by offset ("" for an unnamed line).
type ChipInfo struct {
	Name  string
	Label string
	Lines []string
}

// LineRef is a resolved line: chip (kernel name) and offset.
type LineRef struct {
	Chip   string
	Offset int
	// Name is the line's kernel name, "" if it has none.
	Name string
}

// Resolve finds the line of every signal on chips. A chip or line that does
// not exist, a line name found on several chips when no chip is named, and
// two signals that end up on the same line are refused with ErrProfile.
func Resolve(p Profile, chips []ChipInfo) (map[Signal]LineRef, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	findChip := func(name string) (ChipInfo, bool) {
		for _, c := range chips {
			if c.Name == name || (c.Label != "" && c.Label == name) {
				return c, true
			}
		}
		return ChipInfo{}, false
	}
	out := make(map[Signal]LineRef, len(p.Lines))
	used := map[LineRef]Signal{}
	for _, s := range p.sortedSignals() {
		l := p.Lines[s]
		chipName := l.Chip
		if chipName == "" {
			chipName = p.Chip
		}
		var ref LineRef
		if chipName != "" {
			c, ok := findChip(chipName)
			if !ok {
				return nil, fmt.Errorf("%w %s: %s: no GPIO chip %q on this board", ErrProfile, p.Name, s, chipName)
			}
			if l.Offset != nil {
				if *l.Offset >= len(c.Lines) {
					return nil, fmt.Errorf("%w %s: %s: chip %s has no line %d (it has %d)", ErrProfile, p.Name, s, c.Name, *l.Offset, len(c.Lines))
				}
				ref = LineRef{Chip: c.Name, Offset: *l.Offset, Name: c.Lines[*l.Offset]}
			} else {
				off := indexOf(c.Lines, l.Name)
				if off < 0 {
					return nil, fmt.Errorf("%w %s: %s: chip %s has no line named %q", ErrProfile, p.Name, s, c.Name, l.Name)
				}
				ref = LineRef{Chip: c.Name, Offset: off, Name: l.Name}
			}
		} else {
			var found []LineRef
			for _, c := range chips {
				if off := indexOf(c.Lines, l.Name); off >= 0 {
					found = append(found, LineRef{Chip: c.Name, Offset: off, Name: l.Name})
				}
			}
			switch len(found) {
			case 0:
				return nil, fmt.Errorf("%w %s: %s: no line named %q on this board", ErrProfile, p.Name, s, l.Name)
			case 1:
				ref = found[0]
			default:
				return nil, fmt.Errorf("%w %s: %s: line name %q is on %d chips; name the chip", ErrProfile, p.Name, s, l.Name, len(found))
			}
		}
		if other, dup := used[ref]; dup {
			return nil, fmt.Errorf("%w %s: %s and %s both use %s line %d", ErrProfile, p.Name, other, s, ref.Chip, ref.Offset)
		}
		used[ref] = s
		out[s] = ref
	}
	return out, nil
}

func indexOf(names []string, name string) int {
	for i, n := range names {
		if n == name {
			return i
		}
	}
	return -1
}

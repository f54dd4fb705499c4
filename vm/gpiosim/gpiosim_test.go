package gpiosim_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/einwurf/einwurf/board"
	"github.com/einwurf/einwurf/vm/gpiosim"
)

// fakeKernel plays the files gpio-sim creates when a chip goes live:
// dev_name, chip_name and the sim_gpio attributes.
func fakeKernel(t *testing.T, cfg, sys string, lines int) {
	t.Helper()
	dev := filepath.Join(cfg, "einwurf-panel")
	for _, f := range [][2]string{{filepath.Join(dev, "dev_name"), "gpio-sim.0\n"}, {filepath.Join(dev, "bank0", "chip_name"), "gpiochip1\n"}} {
		if err := os.MkdirAll(filepath.Dir(f[0]), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f[0], []byte(f[1]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := range lines {
		d := filepath.Join(sys, "gpio-sim.0", "gpiochip1", "sim_gpio"+string(rune('0'+i%10)))
		if i >= 10 {
			d = filepath.Join(sys, "gpio-sim.0", "gpiochip1", "sim_gpio1"+string(rune('0'+i-10)))
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "value"), []byte("0\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSetupNamesTheProfilesLines: the chip is configured with the panel
// profile's label and line names, then made live; the board package
// resolves every signal of the profile on a chip with those names.
func TestSetupNamesTheProfilesLines(t *testing.T) {
	p, err := gpiosim.Panel()
	if err != nil {
		t.Fatal(err)
	}
	cfg, sys := t.TempDir(), t.TempDir()
	fakeKernel(t, cfg, sys, len(p.Lines))
	c, err := gpiosim.Setup(p, cfg, sys)
	if err != nil {
		t.Fatal(err)
	}
	read := func(rel string) string {
		b, err := os.ReadFile(filepath.Join(cfg, "einwurf-panel", rel))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if read("live") != "1" || read("bank0/label") != "einwurf-panel" || read("bank0/num_lines") != "9" {
		t.Fatalf("live %q label %q lines %q", read("live"), read("bank0/label"), read("bank0/num_lines"))
	}
	if c.Name != "gpiochip1" || len(c.Lines) != 9 {
		t.Fatalf("chip %+v", c)
	}
	for i, n := range c.Lines {
		if got := read("bank0/line" + string(rune('0'+i)) + "/name"); got != n {
			t.Fatalf("line %d named %q, want %q", i, got, n)
		}
	}
	refs, err := board.Resolve(p, []board.ChipInfo{{Name: c.Name, Label: c.Label, Lines: c.Lines}})
	if err != nil || len(refs) != len(p.Lines) {
		t.Fatalf("resolve: %v %v", refs, err)
	}
	if err := c.SetPull("SERVICE_KEY", false); err != nil {
		t.Fatal(err)
	}
	off, _ := c.Offset("SERVICE_KEY")
	b, _ := os.ReadFile(filepath.Join(sys, "gpio-sim.0", "gpiochip1", "sim_gpio"+string(rune('0'+off)), "pull"))
	if string(b) != "pull-down" {
		t.Fatalf("pull %q", b)
	}
	if on, err := c.Value("LIGHT_GREEN"); err != nil || on {
		t.Fatalf("value %v %v", on, err)
	}
	if err := c.SetPull("NO_SUCH", true); err == nil || !strings.Contains(err.Error(), "no line") {
		t.Fatalf("unknown line: %v", err)
	}
}

// TestNotLive: a kernel that did not bring the chip up is an error.
func TestNotLive(t *testing.T) {
	p, _ := gpiosim.Panel()
	if _, err := gpiosim.Setup(p, t.TempDir(), t.TempDir()); err == nil {
		t.Fatal("no error without the kernel's files")
	}
}

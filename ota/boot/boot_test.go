package boot

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/einwurf/einwurf/internal/testtool"
)

// The script compiles with mkimage into a U-Boot script image, and
// mkimage reads it back as one.
func TestScriptCompiles(t *testing.T) {
	mk := testtool.NeedTool(t, "mkimage")
	dir := t.TempDir()
	scr := filepath.Join(dir, "boot.scr")
	out, err := exec.Command(mk, "-A", "arm64", "-O", "linux", "-T", "script", "-C", "none", "-n", "einwurf A/B",
		"-d", "boot.cmd", scr).CombinedOutput()
	if err != nil {
		t.Fatalf("mkimage: %v\n%s", err, out)
	}
	out, err = exec.Command(mk, "-l", scr).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Script") {
		t.Fatalf("mkimage -l: %v\n%s", err, out)
	}
	if st, err := os.Stat(scr); err != nil || st.Size() < int64(len(Script)) {
		t.Fatalf("boot.scr: %v", err)
	}
	for _, v := range []string{"boot_slot", "upgrade_available", "bootcount", "bootlimit", "saveenv", "einwurf.slot="} {
		if !strings.Contains(Script, v) {
			t.Errorf("script lacks %s", v)
		}
	}
}

func TestSlotFromCmdline(t *testing.T) {
	if s, err := SlotFromCmdline("console=ttyAMA0 root=/dev/vda3 einwurf.slot=b ro"); err != nil || s != "b" {
		t.Fatalf("%q %v", s, err)
	}
	for _, c := range []string{"", "einwurf.slot=c", "einwurf.slot="} {
		if _, err := SlotFromCmdline(c); err == nil {
			t.Errorf("%q accepted", c)
		}
	}
}

func FuzzSlotFromCmdline(f *testing.F) {
	f.Add("root=/dev/vda2 einwurf.slot=a")
	f.Fuzz(func(t *testing.T, s string) {
		if v, err := SlotFromCmdline(s); err == nil && v != "a" && v != "b" {
			t.Fatalf("slot %q", v)
		}
	})
}

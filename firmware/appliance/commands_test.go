package appliance

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeSystemctl puts a systemctl on PATH that records its arguments in a
// file and exits with code.
func fakeSystemctl(t *testing.T, code string) (argsFile string) {
	t.Helper()
	dir := t.TempDir()
	argsFile = filepath.Join(dir, "args")
	script := "#!/bin/sh\necho \"$@\" >> '" + argsFile + "'\nexit " + code + "\n"
	if err := os.WriteFile(filepath.Join(dir, "systemctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	return argsFile
}

// TestSystemReboot: einwurfd's reboot asks systemd for "systemctl reboot"
// once, and a refusal (the unit lacks the right) is an error, not silence.
func TestSystemReboot(t *testing.T) {
	args := fakeSystemctl(t, "0")
	if err := SystemReboot(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(args)
	if err != nil || strings.TrimSpace(string(b)) != "reboot" {
		t.Fatalf("systemctl called with %q (%v), want \"reboot\" once", b, err)
	}

	fakeSystemctl(t, "1")
	if err := SystemReboot(context.Background()); err == nil {
		t.Fatal("a failed systemctl reboot reported success")
	}
	t.Setenv("PATH", t.TempDir())
	if err := SystemReboot(context.Background()); err == nil {
		t.Fatal("no systemctl at all reported success")
	}
}

package appliance

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/printer"
	"github.com/einwurf/einwurf/drivers/scanner"
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

// TestDeviceStates: telemetry names the scanner's state as the device loop
// last saw it and the printer's as it answers now, as codes.
func TestDeviceStates(t *testing.T) {
	a := &Appliance{}
	if a.scannerState() != "" || a.printerState() != "" {
		t.Fatal("states without devices")
	}
	for _, c := range []struct {
		st   printer.Status
		err  error
		want string
	}{
		{printer.Status{Online: true}, nil, "ok"},
		{printer.Status{Online: true, PaperLow: true}, nil, "paper-low"},
		{printer.Status{PaperOut: true}, nil, "paper-out"},
		{printer.Status{CoverOpen: true}, nil, "cover-open"},
		{printer.Status{}, nil, "offline"},
		{printer.Status{}, printer.ErrOffline, "offline"},
	} {
		a.printer = fakePrinter{st: c.st, err: c.err}
		if got := a.printerState(); got != c.want {
			t.Errorf("printer %+v %v: %q, want %q", c.st, c.err, got, c.want)
		}
	}
	a.devs = newDevices(time.Second)
	if got := a.scannerState(); got != "" {
		t.Errorf("scanner not asked yet: %q", got)
	}
	for _, c := range []struct {
		seen scannerSeen
		want string
	}{
		{scannerSeen{}, "ok"},
		{scannerSeen{Status: scanner.Status{Err: scanner.ErrFeederEmpty}}, "ok"},
		{scannerSeen{Status: scanner.Status{Err: scanner.ErrJam}}, "jam"},
		{scannerSeen{Status: scanner.Status{Err: scanner.ErrCoverOpen}}, "cover-open"},
		{scannerSeen{Err: scanner.ErrUnplugged}, "unplugged"},
	} {
		a.devs.status.Store(&c.seen)
		if got := a.scannerState(); got != c.want {
			t.Errorf("scanner %+v: %q, want %q", c.seen, got, c.want)
		}
	}
	a.devs.fault.Store(&DeviceFault{Device: "scanner", Err: scanner.ErrOffline})
	if got := a.scannerState(); got != "absent" {
		t.Errorf("scanner absent: %q", got)
	}
}

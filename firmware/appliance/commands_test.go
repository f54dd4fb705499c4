package appliance

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/einwurf/einwurf/board/identity"
	"github.com/einwurf/einwurf/drivers/printer"
	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/firmware/command"
	"github.com/einwurf/einwurf/wire"
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

// TestFinishRotation: a crash between "new key kept as next" and "in
// place" is settled at the next start: a next key the pending rotation
// announces becomes the device key; one it does not announce (the crash
// came before the announcement was kept) is removed, the old key stays.
func TestFinishRotation(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "device.key")
	oldKey, err := identity.LoadOrCreateKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	r := &remote{keyPath: keyPath}
	next, err := r.rotate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pending, _ := command.OpenPending(filepath.Join(dir, "key-rotation"))

	// Not announced: removed, nothing changes.
	if k, err := finishRotation(keyPath, pending); err != nil || k != nil {
		t.Fatalf("unannounced next key: %v %v", k, err)
	}
	if _, err := os.Stat(keyPath + nextKeySuffix); !os.IsNotExist(err) {
		t.Fatal("unannounced next key left")
	}
	if k, _ := identity.LoadOrCreateKey(keyPath); !k.Equal(oldKey) {
		t.Fatal("device key changed")
	}

	// Announced: it becomes the device key.
	if next, err = r.rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(wire.KeyRotation{NewPub: next.Public().(ed25519.PublicKey)})
	ann, _ := wire.Sign(oldKey, wire.TypeCommandResult, wire.CommandResult{KioskID: "k-1", Seq: 1, Kind: wire.CmdRotateKey,
		Status: wire.ResultDone, Data: data})
	if err := pending.Set(ann); err != nil {
		t.Fatal(err)
	}
	k, err := finishRotation(keyPath, pending)
	if err != nil || !k.Equal(next) {
		t.Fatalf("announced next key: %v", err)
	}
	if k, _ := identity.LoadOrCreateKey(keyPath); !k.Equal(next) {
		t.Fatal("device key on disk is not the announced one")
	}
	if k, err := finishRotation(keyPath, pending); err != nil || k != nil {
		t.Fatalf("nothing left to finish: %v %v", k, err)
	}
}

package ota

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/einwurf/einwurf/ota/durable"
)

// The package's factory folder: slot a at the first start; nothing when
// the slots hold that version or a newer one (an update came over the
// air); an upgrade of the package goes into the other slot and boots there,
// but not while an update is under way.
func TestInstallPackaged(t *testing.T) {
	dir := t.TempDir()
	fsys := durable.OS{}
	app := filepath.Join(dir, "app")
	factory := func(v string) (string, func() ([]byte, error)) {
		f := filepath.Join(dir, "factory-"+v)
		os.MkdirAll(filepath.Join(f, "ui"), 0o755)
		os.WriteFile(filepath.Join(f, BundleBinary), []byte("#!/bin/sh\necho "+v+"\n"), 0o755)
		os.WriteFile(filepath.Join(f, BundleVersion), []byte(v+"\n"), 0o644)
		os.WriteFile(filepath.Join(f, "ui", "index.html"), []byte(v), 0o644)
		return v, func() ([]byte, error) { return TarFolder(f) }
	}
	install := func(v string, b func() ([]byte, error)) string {
		t.Helper()
		did, err := InstallPackaged(fsys, app, v, b)
		if err != nil {
			t.Fatal(err)
		}
		return did
	}
	slots := AppSlots(fsys, app)
	booted := func() (string, string) {
		env, err := slots.Read()
		if err != nil {
			t.Fatal(err)
		}
		v, _ := os.ReadFile(filepath.Join(app, "tree", env.Slot, BundleVersion))
		return env.Slot, string(v)
	}
	if did := install(factory("1.0.0")); did != PackagedFactory {
		t.Fatalf("first start: %q", did)
	}
	if s, v := booted(); s != "a" || v != "1.0.0\n" {
		t.Fatalf("after the factory install: slot %s version %q", s, v)
	}
	if b, _ := os.ReadFile(filepath.Join(app, "tree", "a", "ui", "index.html")); string(b) != "1.0.0" {
		t.Fatalf("ui/index.html %q", b)
	}
	if did := install(factory("1.0.0")); did != PackagedNothing {
		t.Fatalf("same version again: %q", did)
	}
	if did := install(factory("0.9.0")); did != PackagedNothing {
		t.Fatalf("older package: %q", did)
	}
	if did := install(factory("1.1.0")); did != PackagedUpgraded {
		t.Fatalf("upgrade: %q", did)
	}
	if s, v := booted(); s != "b" || v != "1.1.0\n" {
		t.Fatalf("after the upgrade: slot %s version %q", s, v)
	}
	if env, _ := slots.Read(); env.Trial {
		t.Fatal("a package upgrade left on trial")
	}
	if _, err := os.Stat(filepath.Join(app, "index-b.json")); err != nil {
		t.Fatal("no block index of the upgraded slot: ", err)
	}
	// An update under way (or on trial) decides, not the package.
	saveState(fsys, app, State{Phase: "downloading", Slot: "a"})
	if did := install(factory("1.2.0")); did != PackagedNothing {
		t.Fatalf("during an update: %q", did)
	}
	saveState(fsys, app, State{Phase: "committed"})
	slots.SwitchTo("b")
	if did := install(factory("1.2.0")); did != PackagedNothing {
		t.Fatalf("on trial: %q", did)
	}
	slots.Commit()
	if did := install(factory("1.2.0")); did != PackagedUpgraded {
		t.Fatalf("after the trial: %q", did)
	}
	if s, _ := booted(); s != "a" {
		t.Fatalf("1.2.0 in slot %s", s)
	}
	// Same folder, same bytes.
	_, mk := factory("1.2.0")
	x, _ := mk()
	y, _ := mk()
	if string(x) != string(y) {
		t.Fatal("TarFolder is not deterministic")
	}
}

package identity

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
)

func writeFile(t *testing.T, root, rel, content string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

var idRE = regexp.MustCompile(`^k-[0-9a-f]{12}$`)

func TestKioskIDPrefersDeviceTreeSerial(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "etc/machine-id", "0123456789abcdef0123456789abcdef\n")
	src := Sources{Root: root}
	fromMachine, err := KioskID(src)
	if err != nil {
		t.Fatal(err)
	}
	if !idRE.MatchString(fromMachine) {
		t.Fatalf("id %q does not match %s", fromMachine, idRE)
	}
	writeFile(t, root, "sys/firmware/devicetree/base/serial-number", "10000000abcdef01\x00")
	fromSerial, err := KioskID(src)
	if err != nil {
		t.Fatal(err)
	}
	if !idRE.MatchString(fromSerial) || fromSerial == fromMachine {
		t.Fatalf("serial id %q, machine id %q: want a different well-formed id", fromSerial, fromMachine)
	}
	// /proc/device-tree wins over sysfs when both exist, and the trailing
	// NUL the firmware writes does not change the id.
	writeFile(t, root, "proc/device-tree/serial-number", "10000000abcdef01")
	again, err := KioskID(src)
	if err != nil {
		t.Fatal(err)
	}
	if again != fromSerial {
		t.Fatalf("id changed from %q to %q with same serial", fromSerial, again)
	}
	writeFile(t, root, "proc/device-tree/serial-number", "10000000abcdef02\x00")
	other, err := KioskID(src)
	if err != nil {
		t.Fatal(err)
	}
	if other == fromSerial {
		t.Fatalf("different serials gave the same id %q", other)
	}
	// The id never shows the serial itself.
	if bytes.Contains([]byte(other), []byte("abcdef02")) {
		t.Fatalf("id %q leaks the serial", other)
	}
}

func TestKioskIDStable(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "etc/machine-id", "0123456789abcdef0123456789abcdef\n")
	a, err := KioskID(Sources{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	// Fixed value, computed independently (sha256 of the domain, kind and
	// machine id): a changed derivation would re-identify every kiosk in
	// the fleet, so it must be a deliberate change of this test.
	const want = "k-801be96becc6"
	if a != want {
		t.Fatalf("id %q, want %q", a, want)
	}
	if got := mustID(t, "etc/machine-id", "0123456789abcdef0123456789abcdef"); got != a {
		t.Fatalf("white space changed the id: %q vs %q", got, a)
	}
}

func mustID(t *testing.T, rel, content string) string {
	t.Helper()
	root := t.TempDir()
	writeFile(t, root, rel, content)
	id, err := KioskID(Sources{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestKioskIDNone(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "proc/device-tree/serial-number", "\x00")
	writeFile(t, root, "etc/machine-id", "\n")
	if _, err := KioskID(Sources{Root: root}); !errors.Is(err, ErrNoID) {
		t.Fatalf("err = %v, want ErrNoID", err)
	}
}

func TestDescribe(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "proc/device-tree/serial-number", "10000000abcdef01\x00")
	writeFile(t, root, "proc/device-tree/model", "Raspberry Pi Compute Module 4 Rev 1.1\x00")
	info, err := Describe(Sources{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if info.Model != "Raspberry Pi Compute Module 4 Rev 1.1" || info.Serial != "10000000abcdef01" || !idRE.MatchString(info.KioskID) {
		t.Fatalf("info = %+v", info)
	}
	root2 := t.TempDir()
	writeFile(t, root2, "etc/machine-id", "abc")
	info, err = Describe(Sources{Root: root2})
	if err != nil {
		t.Fatal(err)
	}
	if info.Model != "unknown" || info.Serial != "" {
		t.Fatalf("info = %+v", info)
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "identity")
	p := Paths{Dir: dir}
	k1, err := LoadOrCreateKey(p.Key())
	if err != nil {
		t.Fatal(err)
	}
	if len(k1) != ed25519.PrivateKeySize {
		t.Fatalf("key size %d", len(k1))
	}
	fi, err := os.Stat(p.Key())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %#o, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Fatalf("folder mode %#o, want 0700", di.Mode().Perm())
	}
	k2, err := LoadOrCreateKey(p.Key())
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equal(k2) {
		t.Fatal("second call returned a different key")
	}
	// No temp files left behind.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("folder holds %d entries, want only the key", len(ents))
	}
	// The key signs and verifies.
	sig := ed25519.Sign(k2, []byte("x"))
	if !ed25519.Verify(k1.Public().(ed25519.PublicKey), []byte("x"), sig) {
		t.Fatal("signature does not verify")
	}
}

func TestLoadOrCreateKeyConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k", "device.key")
	const n = 8
	keys := make([]ed25519.PrivateKey, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys[i], errs[i] = LoadOrCreateKey(path)
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		if !keys[i].Equal(keys[0]) {
			t.Fatalf("call %d got a different key", i)
		}
	}
}

func TestLoadOrCreateKeyRefusesWidePermissions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "device.key")
	if _, err := LoadOrCreateKey(path); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(path); !errors.Is(err, ErrKeyPermissions) {
		t.Fatalf("err = %v, want ErrKeyPermissions", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("key file changed")
	}
}

func TestLoadOrCreateKeyRefusesCorrupt(t *testing.T) {
	for name, content := range map[string]string{
		"empty":    "",
		"garbage":  "not a key",
		"wrongpem": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
		"badder":   "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "device.key")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadOrCreateKey(path); !errors.Is(err, ErrKeyCorrupt) {
				t.Fatalf("err = %v, want ErrKeyCorrupt", err)
			}
			after, _ := os.ReadFile(path)
			if string(after) != content {
				t.Fatal("corrupt key file was replaced")
			}
		})
	}
}

func TestPaths(t *testing.T) {
	p := Paths{Dir: "/var/lib/einwurf/identity"}
	got := []string{p.Key(), p.Cert(), p.CA()}
	want := []string{"/var/lib/einwurf/identity/device.key", "/var/lib/einwurf/identity/client.crt", "/var/lib/einwurf/identity/ca.crt"}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("path %d = %q, want %q", i, got[i], want[i])
		}
	}
}

func FuzzParseKey(f *testing.F) {
	seedKey(f)
	f.Add([]byte(""))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseKey(b)
		if err != nil {
			if !errors.Is(err, ErrKeyCorrupt) {
				t.Fatalf("error %v is not ErrKeyCorrupt", err)
			}
			return
		}
		if len(k) != ed25519.PrivateKeySize {
			t.Fatalf("accepted key of size %d", len(k))
		}
	})
}

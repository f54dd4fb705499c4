package identity

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

var kioskIDShape = regexp.MustCompile(`^k-[0-9a-f]{12}$`)

// FuzzIdentityFiles lays out any device tree serial, model and machine id
// files: KioskID is "k-" and 12 hex digits or ErrNoID, the same on every
// call, never shows the raw serial, and Describe and Model never fail on
// content.
func FuzzIdentityFiles(f *testing.F) {
	f.Add([]byte("10000000abcdef01\x00"), []byte("Raspberry Pi 4 Model B Rev 1.4\x00"), []byte("0123456789abcdef0123456789abcdef\n"))
	f.Add([]byte(""), []byte(""), []byte(""))
	f.Add([]byte("\x00\x00 \n"), []byte("\xff\xfe"), []byte("x"))
	f.Fuzz(func(t *testing.T, serial, model, machine []byte) {
		root := t.TempDir()
		for p, b := range map[string][]byte{"proc/device-tree/serial-number": serial,
			"proc/device-tree/model": model, "etc/machine-id": machine} {
			os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
			os.WriteFile(filepath.Join(root, p), b, 0o644)
		}
		src := Sources{Root: root}
		id, err := KioskID(src)
		if err != nil {
			if !errors.Is(err, ErrNoID) {
				t.Fatalf("KioskID: %v", err)
			}
			return
		}
		if !kioskIDShape.MatchString(id) {
			t.Fatalf("kiosk id %q", id)
		}
		again, _ := KioskID(src)
		if again != id {
			t.Fatalf("kiosk id changed: %s, %s", id, again)
		}
		if s := clean(serial); len(s) >= 8 && bytes.Contains([]byte(id), []byte(s)) {
			t.Fatalf("the id %s shows the serial", id)
		}
		if _, err := Describe(src); err != nil {
			t.Fatalf("Describe: %v", err)
		}
	})
}

// FuzzLoadKeyFile puts any content in the device key file (mode 0600):
// LoadOrCreateKey returns ErrKeyCorrupt or the key the file holds, and
// never replaces the file.
func FuzzLoadKeyFile(f *testing.F) {
	good := seedKey(f)
	f.Add(append(good, "junk"...))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "device.key")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		k, err := LoadOrCreateKey(path)
		if err != nil && !errors.Is(err, ErrKeyCorrupt) {
			t.Fatalf("error %v", err)
		}
		if err == nil && len(k) != ed25519.PrivateKeySize {
			t.Fatalf("key of %d bytes", len(k))
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(after, b) {
			t.Fatal("the key file was replaced")
		}
	})
}

// seedKey makes a device key file as LoadOrCreateKey writes it, adds it to
// f's corpus and returns its bytes.
func seedKey(f *testing.F) []byte {
	path := filepath.Join(f.TempDir(), "device.key")
	if _, err := LoadOrCreateKey(path); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	return good
}

// Package identity gives a kiosk its stable, non-personal identity: a short
// kiosk id derived from the board's serial number (or the machine id), the
// board model and serial for telemetry, the Ed25519 device key and the paths
// of the client certificate the kiosk presents to the broker.
package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Errors identity reports.
var (
	// ErrNoID means neither a device tree serial number nor a machine id
	// could be read.
	ErrNoID = errors.New("identity: no device tree serial number and no machine id")
	// ErrKeyPermissions means the key file is readable or writable by
	// others than its owner; it is not used and not replaced.
	ErrKeyPermissions = errors.New("identity: device key file permissions too wide")
	// ErrKeyCorrupt means the key file exists but is not a PEM PKCS#8
	// Ed25519 private key; it is not replaced.
	ErrKeyCorrupt = errors.New("identity: device key file corrupt")
)

// Sources says where the identity files are read from. Tests point Root at
// a temporary folder laid out like a root file system.
type Sources struct {
	// Root is the root of the file system; "" means "/".
	Root string
}

func (s Sources) path(p string) string {
	root := s.Root
	if root == "" {
		root = "/"
	}
	return filepath.Join(root, p)
}

// Where the board's serial number and model live. The Raspberry Pi firmware
// fills both device tree nodes; /proc/device-tree is a link to the sysfs one,
// but either may be missing in a container.
var (
	serialFiles = []string{"proc/device-tree/serial-number", "sys/firmware/devicetree/base/serial-number"}
	modelFiles  = []string{"proc/device-tree/model", "sys/firmware/devicetree/base/model", "sys/class/dmi/id/product_name"}
	machineID   = []string{"etc/machine-id", "var/lib/dbus/machine-id"}
)

// idDomain separates kiosk ids from any other hash of the same serial.
const idDomain = "einwurf kiosk id v1\x00"

// clean strips what device tree strings carry around the value: a trailing
// NUL and white space.
func clean(b []byte) string {
	return strings.TrimSpace(strings.Trim(string(b), "\x00"))
}

// firstOf returns the first non-empty cleaned content among files.
func firstOf(src Sources, files []string) (string, error) {
	for _, f := range files {
		b, err := os.ReadFile(src.path(f))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return "", fmt.Errorf("identity: read %s: %w", f, err)
		}
		if v := clean(b); v != "" {
			return v, nil
		}
	}
	return "", nil
}

// Serial returns the board's hardware serial number from the device tree,
// or "" when the board has none (a PC, a container).
func Serial(src Sources) (string, error) {
	return firstOf(src, serialFiles)
}

// Model returns the board model from the device tree (e.g. "Raspberry Pi
// Compute Module 4 Rev 1.1") or DMI, or "unknown".
func Model(src Sources) (string, error) {
	m, err := firstOf(src, modelFiles)
	if err != nil {
		return "", err
	}
	if m == "" {
		return "unknown", nil
	}
	return m, nil
}

// KioskID returns a stable kiosk id of the form "k-" followed by 12 lower
// case hex digits. It is a hash of the device tree serial number, else of
// the machine id, so the id survives reinstalls on a board with a serial
// and never shows the raw serial on the wire.
func KioskID(src Sources) (string, error) {
	v, err := Serial(src)
	if err != nil {
		return "", err
	}
	kind := "serial"
	if v == "" {
		kind = "machine-id"
		if v, err = firstOf(src, machineID); err != nil {
			return "", err
		}
	}
	if v == "" {
		return "", ErrNoID
	}
	sum := sha256.Sum256([]byte(idDomain + kind + "\x00" + v))
	return "k-" + hex.EncodeToString(sum[:6]), nil
}

// Info is what telemetry reports about the board.
type Info struct {
	KioskID string `json:"kiosk_id"`
	Model   string `json:"model"`
	Serial  string `json:"serial,omitempty"`
}

// Describe collects the kiosk id, model and serial number.
func Describe(src Sources) (Info, error) {
	id, err := KioskID(src)
	if err != nil {
		return Info{}, err
	}
	m, err := Model(src)
	if err != nil {
		return Info{}, err
	}
	s, err := Serial(src)
	if err != nil {
		return Info{}, err
	}
	return Info{KioskID: id, Model: m, Serial: s}, nil
}

// Paths names the files of a kiosk's credentials inside one folder.
type Paths struct {
	// Dir is the credentials folder, e.g. /var/lib/einwurf/identity.
	Dir string
}

// Key is the device key, PEM PKCS#8 Ed25519, mode 0600.
func (p Paths) Key() string { return filepath.Join(p.Dir, "device.key") }

// Cert is the client certificate issued to the device key at enrolment.
func (p Paths) Cert() string { return filepath.Join(p.Dir, "client.crt") }

// CA is the certificate authority that signs the broker's certificate.
func (p Paths) CA() string { return filepath.Join(p.Dir, "ca.crt") }

// pemType is the PEM block type of the stored key.
const pemType = "PRIVATE KEY"

// LoadOrCreateKey returns the kiosk's Ed25519 device key stored at path as
// a PEM block "PRIVATE KEY" holding PKCS#8. On first call it creates the
// key, its folder (mode 0700) and the file (mode 0600), written atomically:
// temp file, fsync, rename, fsync of the folder. A key file with wider
// permissions than 0600 or one that does not parse is an error and is left
// untouched, because replacing it would silently change the kiosk's identity.
func LoadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	fi, err := os.Stat(path)
	switch {
	case err == nil:
		return loadKey(path, fi)
	case errors.Is(err, fs.ErrNotExist):
		return createKey(path)
	default:
		return nil, fmt.Errorf("identity: stat device key: %w", err)
	}
}

func loadKey(path string, fi fs.FileInfo) (ed25519.PrivateKey, error) {
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: not a regular file", ErrKeyCorrupt)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: mode %#o, want 0600", ErrKeyPermissions, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("identity: read device key: %w", err)
	}
	return ParseKey(b)
}

// ParseKey parses a PEM PKCS#8 Ed25519 private key as LoadOrCreateKey
// stores it. Anything else, including trailing data, is ErrKeyCorrupt.
func ParseKey(b []byte) (ed25519.PrivateKey, error) {
	blk, rest := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%w: no PEM block", ErrKeyCorrupt)
	}
	if blk.Type != pemType {
		return nil, fmt.Errorf("%w: PEM type %q", ErrKeyCorrupt, blk.Type)
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		return nil, fmt.Errorf("%w: data after the PEM block", ErrKeyCorrupt)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyCorrupt, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: not an Ed25519 key (%T)", ErrKeyCorrupt, k)
	}
	return ek, nil
}

func createKey(path string) (ed25519.PrivateKey, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("identity: create key folder: %w", err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("identity: generate device key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("identity: encode device key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: der})
	if err := writeAtomic(path, data, 0o600); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Another process created the key between our stat and our
			// link: its key is the kiosk's key.
			fi, serr := os.Stat(path)
			if serr != nil {
				return nil, fmt.Errorf("identity: stat device key: %w", serr)
			}
			return loadKey(path, fi)
		}
		return nil, err
	}
	return priv, nil
}

// writeAtomic writes data to path so that a crash leaves either no file or
// the whole file: temp file in the same folder, fsync, link into place,
// fsync of the folder. Linking (not renaming) refuses to overwrite a key
// another process created meanwhile.
func writeAtomic(path string, data []byte, mode os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".device-key-*")
	if err != nil {
		return fmt.Errorf("identity: temp key file: %w", err)
	}
	tmp := f.Name()
	defer func() {
		// The temp name is removed in every case: after a successful link
		// the key lives on under its final name.
		if rerr := os.Remove(tmp); rerr != nil && err == nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = fmt.Errorf("identity: remove temp key file: %w", rerr)
		}
	}()
	if err = f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("identity: chmod temp key file: %w", err)
	}
	if _, err = f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("identity: write temp key file: %w", err)
	}
	if err = f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("identity: fsync temp key file: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("identity: close temp key file: %w", err)
	}
	if err = os.Link(tmp, path); err != nil {
		return fmt.Errorf("identity: install device key: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("identity: open key folder: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("identity: fsync key folder: %w", err)
	}
	return nil
}

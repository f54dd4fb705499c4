// Package config is the appliance's configuration file: a JSON document,
// parsed strictly (unknown fields are errors, so a typo is not silently
// ignored) and checked as a whole before anything starts.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/einwurf/einwurf/drivers/scanner/escl"
	"github.com/einwurf/einwurf/wire"
)

// ErrInvalid marks a configuration that cannot be used.
var ErrInvalid = errors.New("config: invalid")

// MaxSize bounds the configuration file.
const MaxSize = 64 << 10

// Duration is a time.Duration written as "90s" or "3m".
type Duration time.Duration

// UnmarshalJSON parses a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Scanner configures the document scanner.
type Scanner struct {
	// URL of an eSCL scanner on the network, e.g. http://10.0.0.5/eSCL;
	// empty means the first IPP-over-USB scanner.
	URL        string `json:"url,omitempty"`
	Resolution int    `json:"resolution"`
	Color      string `json:"color"` // RGB24, Grayscale8, BlackAndWhite1
	Duplex     bool   `json:"duplex"`
	// Quirks are device quirk rules of this site, applied after the known
	// ones (escl.KnownQuirks); a rule with "replace" switches known quirks
	// off for the devices it matches.
	Quirks []escl.QuirkRule `json:"quirks,omitempty"`
	// Stall is how long the scanner may send nothing mid-page before the
	// scan counts as stalled (0: escl.DefaultTimeouts, 20 s).
	Stall Duration `json:"stall,omitempty"`
}

// Reader configures the barcode reader.
type Reader struct {
	// Kind is "imager" (a 2D imager on the profile's UART) or "wiegand"
	// (a reader on the Wiegand D0/D1 lines).
	Kind string `json:"kind"`
	// Mode is the imager's protocol: "ssi" (Zebra SSI) or "plain".
	Mode string `json:"mode,omitempty"`
	// Baud is the imager's UART speed (0: 9600).
	Baud int `json:"baud,omitempty"`
}

// Spool sets the outbox's disk budget.
type Spool struct {
	MaxBytes  int64 `json:"max_bytes"`
	WarnFree  int64 `json:"warn_free"`
	AlarmFree int64 `json:"alarm_free"`
}

// MQTT configures the uplink.
type MQTT struct {
	Brokers    []string `json:"brokers"`
	CACert     string   `json:"ca_cert,omitempty"`
	ClientCert string   `json:"client_cert,omitempty"`
	ClientKey  string   `json:"client_key,omitempty"`
	// CentralPub is the path of the central's central.pub.json.
	CentralPub string `json:"central_pub"`
}

// Config is the appliance's configuration.
type Config struct {
	// KioskID overrides the id derived from the board (tests, simulation).
	KioskID string `json:"kiosk_id,omitempty"`
	// Listen is the UI's address; it must be a loopback address.
	Listen string `json:"listen"`
	// Board names the board profile (rpi4, generic, sim) or a file.
	Board   string  `json:"board"`
	Scanner Scanner `json:"scanner"`
	Reader  Reader  `json:"reader"`
	MQTT    MQTT    `json:"mqtt"`
	Spool   Spool   `json:"spool"`
	// IdleTimeout ends a visit nobody touches.
	IdleTimeout Duration `json:"idle_timeout"`
	// RemoveBlank leaves blank pages out by default (the customer can undo).
	RemoveBlank bool `json:"remove_blank"`
	// Update configures over-the-air updates (nil: none; docs/update.md).
	Update *Update `json:"update,omitempty"`
	// Service configures service mode for facilities staff.
	Service Service `json:"service"`
}

// Service configures service mode (kiosk/service).
type Service struct {
	// BadgeReader is the staff badge reader: "wiegand" (a reader on the
	// profile's Wiegand D0/D1 lines, next to the customers' imager) or
	// "" (none: staff log in with a PIN).
	BadgeReader string `json:"badge_reader,omitempty"`
	// WaitingWarn is how long the oldest document may wait for the
	// central's receipt before the connection's light turns yellow
	// (0: 1 hour).
	WaitingWarn Duration `json:"waiting_warn,omitempty"`
}

// Update configures over-the-air updates of the application bundle. They
// run only when einwurfd was started by einwurf-launch from a slot.
type Update struct {
	// MetadataURL and TargetsURL are the update server's TUF repository,
	// e.g. https://central.example:8443/tuf/metadata/.
	MetadataURL string `json:"metadata_url"`
	TargetsURL  string `json:"targets_url"`
	// Root is the file of the TUF root the image ships (trusted first).
	Root string `json:"root"`
	// Window is the maintenance window, "02:00-04:00" local time (empty:
	// any time when no visit is in progress).
	Window string `json:"window,omitempty"`
	// HealthDeadline bounds the health check after a switch (default 2m).
	HealthDeadline Duration `json:"health_deadline,omitempty"`
	// Transport is how metadata and payloads are fetched: "http" (the
	// default: Range requests to metadata_url and targets_url) or "mqtt"
	// (chunks over the broker connection, where the kiosk reaches nothing
	// else; the URLs are then unused).
	Transport string `json:"transport,omitempty"`
	// Rootfs turns on root file system updates (A/B partitions switched
	// through U-Boot's environment); nil: application bundles only.
	Rootfs *UpdateRootfs `json:"rootfs,omitempty"`
}

// UpdateRootfs names the running system's root file system slots, its
// U-Boot environment and where its version and booted slot are read.
type UpdateRootfs struct {
	// SlotA and SlotB are the partitions of slot a and b, e.g.
	// /dev/mmcblk0p2 and /dev/mmcblk0p3 (the virtual board: /dev/vda2,
	// /dev/vda3).
	SlotA string `json:"slot_a"`
	SlotB string `json:"slot_b"`
	// FWEnvConfig is the U-Boot environment's fw_env.config (default
	// /etc/fw_env.config).
	FWEnvConfig string `json:"fw_env_config,omitempty"`
	// Cmdline is where the kernel command line is read, einwurf.slot=
	// naming the booted slot (default /proc/cmdline).
	Cmdline string `json:"cmdline,omitempty"`
	// VersionFile holds the root file system's version: an os-release
	// file's IMAGE_VERSION=, or the version alone (default
	// /etc/os-release).
	VersionFile string `json:"version_file,omitempty"`
	// Dir is the update state of the root file system, on the writable
	// data partition (default DATA/rootfs-update).
	Dir string `json:"dir,omitempty"`
}

// Defaults of UpdateRootfs.
const (
	DefaultFWEnvConfig = "/etc/fw_env.config"
	DefaultCmdline     = "/proc/cmdline"
	DefaultVersionFile = "/etc/os-release"
)

// WithDefaults returns r with its empty paths filled in (Dir below data).
func (r UpdateRootfs) WithDefaults(data string) UpdateRootfs {
	if r.FWEnvConfig == "" {
		r.FWEnvConfig = DefaultFWEnvConfig
	}
	if r.Cmdline == "" {
		r.Cmdline = DefaultCmdline
	}
	if r.VersionFile == "" {
		r.VersionFile = DefaultVersionFile
	}
	if r.Dir == "" {
		r.Dir = filepath.Join(data, "rootfs-update")
	}
	return r
}

// Default returns the configuration used where the file says nothing.
func Default() Config {
	return Config{
		Listen:      "127.0.0.1:8080",
		Board:       "sim",
		Scanner:     Scanner{Resolution: 300, Color: "RGB24", Duplex: true},
		Reader:      Reader{Kind: "imager", Mode: "ssi"},
		Spool:       Spool{WarnFree: 512 << 20, AlarmFree: 128 << 20},
		IdleTimeout: Duration(3 * time.Minute),
		RemoveBlank: true,
	}
}

// Parse reads a configuration over the defaults and checks it.
func Parse(b []byte) (Config, error) {
	c := Default()
	if len(b) > MaxSize {
		return Config{}, fmt.Errorf("%w: %d bytes, at most %d", ErrInvalid, len(b), MaxSize)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if d.More() {
		return Config{}, fmt.Errorf("%w: trailing data", ErrInvalid)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Load reads and parses the file at path.
func Load(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return Parse(b)
}

// Validate checks the configuration as a whole. It reads no file; a
// kiosk also runs CheckKiosk.
func (c Config) Validate() error {
	if u := c.Update; u != nil {
		switch u.Transport {
		case "", "http", "mqtt":
		default:
			return fmt.Errorf("%w: update.transport %q: http or mqtt", ErrInvalid, u.Transport)
		}
		for _, v := range []struct{ name, url string }{{"metadata_url", u.MetadataURL}, {"targets_url", u.TargetsURL}} {
			if u.Transport == "mqtt" && v.url == "" {
				continue
			}
			if p, err := url.Parse(v.url); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
				return fmt.Errorf("%w: update.%s %q: an http(s) URL", ErrInvalid, v.name, v.url)
			}
		}
		if u.Root == "" {
			return fmt.Errorf("%w: update.root: the TUF root file is missing", ErrInvalid)
		}
		if u.HealthDeadline < 0 {
			return fmt.Errorf("%w: update.health_deadline is negative", ErrInvalid)
		}
		if r := u.Rootfs; r != nil {
			for _, v := range []struct{ name, path string }{{"slot_a", r.SlotA}, {"slot_b", r.SlotB},
				{"fw_env_config", r.FWEnvConfig}, {"cmdline", r.Cmdline}, {"version_file", r.VersionFile}, {"dir", r.Dir}} {
				if (v.path != "" || v.name == "slot_a" || v.name == "slot_b") && !filepath.IsAbs(v.path) {
					return fmt.Errorf("%w: update.rootfs.%s %q: an absolute path", ErrInvalid, v.name, v.path)
				}
			}
			if filepath.Clean(r.SlotA) == filepath.Clean(r.SlotB) {
				return fmt.Errorf("%w: update.rootfs: slot_a and slot_b are the same partition", ErrInvalid)
			}
		}
	}
	if c.KioskID != "" && !wire.ValidID(c.KioskID) {
		return fmt.Errorf("%w: kiosk_id %q: lower-case letters, digits and '-', at most 64, e.g. \"k-0001\"", ErrInvalid, c.KioskID)
	}
	if c.Board == "" {
		return fmt.Errorf("%w: board: missing (a built-in profile such as rpi4, or a file)", ErrInvalid)
	}
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("%w: listen: %v", ErrInvalid, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%w: listen: the UI listens on loopback only", ErrInvalid)
	}
	switch c.Scanner.Resolution {
	case 150, 200, 300, 400, 600:
	default:
		return fmt.Errorf("%w: scanner resolution %d", ErrInvalid, c.Scanner.Resolution)
	}
	switch c.Scanner.Color {
	case "RGB24", "Grayscale8", "BlackAndWhite1":
	default:
		return fmt.Errorf("%w: scanner color %q", ErrInvalid, c.Scanner.Color)
	}
	switch {
	case c.Reader.Kind != "imager" && c.Reader.Kind != "wiegand":
		return fmt.Errorf("%w: reader kind %q (imager or wiegand)", ErrInvalid, c.Reader.Kind)
	case c.Reader.Kind == "imager" && c.Reader.Mode != "ssi" && c.Reader.Mode != "plain":
		return fmt.Errorf("%w: reader mode %q (ssi or plain)", ErrInvalid, c.Reader.Mode)
	case c.Reader.Baud < 0 || c.Reader.Baud > 921600:
		return fmt.Errorf("%w: reader baud %d", ErrInvalid, c.Reader.Baud)
	}
	switch c.Service.BadgeReader {
	case "":
	case "wiegand":
		if c.Reader.Kind == "wiegand" {
			return fmt.Errorf("%w: service.badge_reader \"wiegand\": the Wiegand lines already carry the customers' reader (reader.kind); a badge reader needs reader.kind \"imager\"", ErrInvalid)
		}
	default:
		return fmt.Errorf("%w: service.badge_reader %q (\"wiegand\" or none)", ErrInvalid, c.Service.BadgeReader)
	}
	if w := time.Duration(c.Service.WaitingWarn); w != 0 && (w < time.Minute || w > 7*24*time.Hour) {
		return fmt.Errorf("%w: service.waiting_warn %v: between 1m and 168h", ErrInvalid, w)
	}
	if c.Scanner.URL != "" {
		if u, err := url.Parse(c.Scanner.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%w: scanner url", ErrInvalid)
		}
	}
	for _, b := range c.MQTT.Brokers {
		u, err := url.Parse(b)
		if err != nil || u.Host == "" {
			return fmt.Errorf("%w: broker url", ErrInvalid)
		}
		switch u.Scheme {
		case "tls", "ssl", "mqtts":
			if c.MQTT.ClientCert == "" || c.MQTT.ClientKey == "" || c.MQTT.CACert == "" {
				return fmt.Errorf("%w: a TLS broker needs ca_cert, client_cert and client_key", ErrInvalid)
			}
		case "tcp", "mqtt":
		default:
			return fmt.Errorf("%w: broker scheme %q", ErrInvalid, u.Scheme)
		}
	}
	if c.Spool.MaxBytes < 0 || c.Spool.WarnFree < 0 || c.Spool.AlarmFree < 0 || c.Spool.AlarmFree > c.Spool.WarnFree {
		return fmt.Errorf("%w: spool thresholds", ErrInvalid)
	}
	if t := time.Duration(c.IdleTimeout); t < 10*time.Second || t > time.Hour {
		return fmt.Errorf("%w: idle_timeout must lie between 10s and 1h", ErrInvalid)
	}
	return nil
}

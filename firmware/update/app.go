package update

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/einwurf/einwurf/ota"
	"github.com/einwurf/einwurf/ota/durable"
	"github.com/einwurf/einwurf/ota/tuf"
)

// ErrNotLaunched is returned by FromEnvironment when the program was not
// started by the application launcher (no slots: no updates).
var ErrNotLaunched = errors.New("update: not started from an application slot")

// Parts are what an update service is built from: application bundles
// in the slots under Settings.Dir (when Booted names the slot the launcher
// started), root file system images (when Rootfs is set), or both.
type Parts struct {
	Settings   Settings
	KioskID    string
	Version    string // this program's version (the application bundle's)
	Booted     string // the application slot it runs from ("": no bundle updates)
	CentralKey ed25519.PublicKey
	DeviceKey  ed25519.PrivateKey
	// RootJSON is the TUF root the kiosk was built with, used when the
	// slots' folder holds none yet.
	RootJSON []byte
	Publish  func(topic string, payload []byte, retained bool) error
	Health   func(ctx context.Context) error
	// HealthDeadline bounds the health check after a switch (default 2 min).
	HealthDeadline time.Duration
	// Busy reports whether a visit is in progress (no switch then).
	Busy func() bool
	// Restart ends the program so the launcher starts the switched slot.
	Restart func() error
	// Rootfs configures root file system updates (nil: none).
	Rootfs *Rootfs
	HTTP   *http.Client
	Log    *slog.Logger
}

// FromEnvironment returns the slots' folder and the booted slot the
// launcher passed (ota.EnvDir, ota.EnvSlot).
func FromEnvironment() (dir, slot string, err error) {
	dir, slot = os.Getenv(ota.EnvDir), os.Getenv(ota.EnvSlot)
	if dir == "" || (slot != "a" && slot != "b") {
		return "", "", ErrNotLaunched
	}
	return dir, slot, nil
}

// NewApp builds the update service for application bundles in the slots
// under p.Settings.Dir (and root file system images when p.Rootfs is set).
func NewApp(p Parts) (*Service, error) { return NewService(p) }

// NewService builds the update service: one state machine per payload
// kind the parts name, sharing the reports, the health check and the gate.
func NewService(p Parts) (*Service, error) {
	fsys := durable.OS{}
	hc := p.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 0}
	}
	inWindow, err := ParseWindow(p.Settings.Window)
	if err != nil {
		return nil, err
	}
	seqDir := p.Settings.Dir
	if p.Booted == "" && p.Rootfs != nil {
		seqDir = p.Rootfs.Dir
	}
	if seqDir == "" {
		return nil, errors.New("update: neither application slots nor a root file system to update")
	}
	s := New(Config{KioskID: p.KioskID, CentralKey: p.CentralKey, DeviceKey: p.DeviceKey,
		SeqFile: filepath.Join(seqDir, "offer-seq"), FS: fsys, Publish: p.Publish, Log: p.Log})
	var meta tuf.Fetcher = tuf.HTTPFetcher{Client: hc, Base: p.Settings.MetadataURL}
	var src ota.Source = ota.HTTPSource{Client: hc, Base: p.Settings.TargetsURL}
	switch p.Settings.Transport {
	case "", TransportHTTP:
	case TransportMQTT:
		s.mqtt = &ota.MQTTSource{KioskID: p.KioskID, Publish: func(topic string, payload []byte) error {
			return p.Publish(topic, payload, false)
		}}
		meta, src = s.mqtt, s.mqtt
	default:
		return nil, fmt.Errorf("update: transport %q: http or mqtt", p.Settings.Transport)
	}
	machine := func(dir string, slots ota.Slots, booted, version string, restart func() error) error {
		tc, err := trustedTUF(fsys, dir, p.RootJSON, meta)
		if err != nil {
			return err
		}
		u, err := ota.New(ota.Config{FS: fsys, Dir: dir, Slots: slots, TUF: tc,
			Source: src, Booted: booted, Version: version,
			Health: p.Health, HealthDeadline: p.HealthDeadline,
			MayInstall: func(now time.Time) bool { return inWindow(now) && (p.Busy == nil || !p.Busy()) },
			Poll:       5 * time.Second,
			Switching:  s.Switching, Restart: restart, Report: s.Report, Log: p.Log})
		if err != nil {
			return err
		}
		s.c.Updaters = append(s.c.Updaters, u)
		return nil
	}
	if p.Booted != "" {
		dir := p.Settings.Dir
		if err := machine(dir, ota.AppSlots(fsys, dir), p.Booted, p.Version, p.Restart); err != nil {
			return nil, err
		}
	}
	if r := p.Rootfs; r != nil {
		if r.Reboot == nil {
			return nil, errors.New("update: root file system updates need a way to reboot the board")
		}
		reboot := func() error {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			return r.Reboot(ctx)
		}
		if err := machine(r.Dir, r.Slots, r.Booted, r.Version, reboot); err != nil {
			return nil, fmt.Errorf("update: root file system: %w", err)
		}
	}
	return s, nil
}

// trustedTUF opens the TUF client of one machine's folder, seeding it with
// the image's root the first time.
func trustedTUF(fsys durable.FS, dir string, root []byte, f tuf.Fetcher) (*tuf.Client, error) {
	tufDir := filepath.Join(dir, "tuf")
	if err := fsys.MkdirAll(tufDir); err != nil {
		return nil, err
	}
	if _, err := fsys.Size(filepath.Join(tufDir, "root.json")); durable.IsNotExist(err) {
		if len(root) == 0 {
			return nil, fmt.Errorf("update: no trusted TUF root in %s", tufDir)
		}
		if err := durable.WriteFile(fsys, filepath.Join(tufDir, "root.json"), root); err != nil {
			return nil, err
		}
	}
	return tuf.New(fsys, tufDir, f, time.Now)
}

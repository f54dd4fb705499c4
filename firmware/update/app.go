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

// Parts are what an application-bundle update service is built from.
type Parts struct {
	Settings   Settings
	KioskID    string
	Version    string // this program's version
	Booted     string // the slot it runs from
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
	HTTP    *http.Client
	Log     *slog.Logger
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
// under p.Settings.Dir.
func NewApp(p Parts) (*Service, error) {
	fsys := durable.OS{}
	dir := p.Settings.Dir
	tufDir := filepath.Join(dir, "tuf")
	if err := fsys.MkdirAll(tufDir); err != nil {
		return nil, err
	}
	if _, err := fsys.Size(filepath.Join(tufDir, "root.json")); durable.IsNotExist(err) {
		if len(p.RootJSON) == 0 {
			return nil, fmt.Errorf("update: no trusted TUF root in %s", tufDir)
		}
		if err := durable.WriteFile(fsys, filepath.Join(tufDir, "root.json"), p.RootJSON); err != nil {
			return nil, err
		}
	}
	hc := p.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 0}
	}
	tc, err := tuf.New(fsys, tufDir, tuf.HTTPFetcher{Client: hc, Base: p.Settings.MetadataURL}, time.Now)
	if err != nil {
		return nil, err
	}
	inWindow, err := ParseWindow(p.Settings.Window)
	if err != nil {
		return nil, err
	}
	s := New(Config{KioskID: p.KioskID, CentralKey: p.CentralKey, DeviceKey: p.DeviceKey,
		SeqFile: filepath.Join(dir, "offer-seq"), FS: fsys, Publish: p.Publish, Log: p.Log})
	u, err := ota.New(ota.Config{FS: fsys, Dir: dir, Slots: ota.AppSlots(fsys, dir), TUF: tc,
		Source: ota.HTTPSource{Client: hc, Base: p.Settings.TargetsURL}, Booted: p.Booted, Version: p.Version,
		Health: p.Health, HealthDeadline: p.HealthDeadline,
		MayInstall: func(now time.Time) bool { return inWindow(now) && (p.Busy == nil || !p.Busy()) },
		Poll:       5 * time.Second,
		Switching:  s.Switching, Restart: p.Restart, Report: s.Report, Log: p.Log})
	if err != nil {
		return nil, err
	}
	s.c.Updater = u
	return s, nil
}

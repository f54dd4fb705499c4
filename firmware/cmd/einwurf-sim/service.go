package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"

	barcodesim "github.com/einwurf/einwurf/drivers/barcode/sim"
	"github.com/einwurf/einwurf/firmware/appliance"
	"github.com/einwurf/einwurf/kiosk/service"
	"github.com/einwurf/einwurf/wire"
)

// The simulation's staff: one badge and one PIN (slot 1), signed into the
// kiosk's staff list by the simulated central at first start.
const (
	simBadge = "12345678"
	simPIN   = "246813"
)

// simService sets up service mode's simulated parts: the staff list, the
// badge reader and a folder standing for a USB stick.
func (s *simulation) simService(kioskDir string, centralKey ed25519.PrivateKey) (appliance.ServiceParts, error) {
	path := filepath.Join(kioskDir, "staff-list.json")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		salt, pinSalt := make([]byte, 16), make([]byte, 16)
		rand.Read(salt)
		rand.Read(pinSalt)
		l := wire.StaffList{Seq: 1, Salt: hex.EncodeToString(salt)}
		l.Badges = []string{wire.BadgeHash(l.Salt, simBadge)}
		l.PINs = []wire.PINSlot{service.NewPINSlot(1, simPIN, pinSalt)}
		b, err := wire.SignStaffList(centralKey, l)
		if err != nil {
			return appliance.ServiceParts{}, err
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return appliance.ServiceParts{}, err
		}
	}
	s.usbDir = filepath.Join(filepath.Dir(kioskDir), "usb-stick")
	if err := os.MkdirAll(s.usbDir, 0o700); err != nil {
		return appliance.ServiceParts{}, err
	}
	s.badges = barcodesim.New()
	s.closers = append(s.closers, func() { s.badges.Close() })
	return appliance.ServiceParts{StaffList: path, Badges: s.badges, USBDir: s.usbDir}, nil
}

// badgeBody holds a badge to the simulated Wiegand reader.
type badgeBody struct {
	Number string `json:"number"`
}

// driveBadge reads a badge on the simulated staff badge reader.
func (s *simulation) driveBadge(w http.ResponseWriter, r *http.Request) {
	var b badgeBody
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&b); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if !wire.ValidBadgeNumber(b.Number) {
		http.Error(w, "a Wiegand badge is 4 to 20 digits", http.StatusBadRequest)
		return
	}
	if err := s.badges.Inject(b.Number); err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// boardScript serves the simulation page's board and service controls.
func boardScript(w http.ResponseWriter, r *http.Request) {
	data, err := assets.ReadFile("assets/board.js")
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	_, _ = w.Write(data)
}

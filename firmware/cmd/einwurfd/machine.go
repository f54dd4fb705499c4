package main

import (
	"fmt"
	"log/slog"

	"github.com/einwurf/einwurf/board"
	"github.com/einwurf/einwurf/drivers/barcode"
	"github.com/einwurf/einwurf/drivers/barcode/wiegand"
	"github.com/einwurf/einwurf/drivers/usb"
	"github.com/einwurf/einwurf/firmware/appliance"
	"github.com/einwurf/einwurf/firmware/config"
)

// machine is what einwurfd opens of the hardware it runs on. A kiosk uses
// kioskMachine: the GPIO character devices and libusb. Tests hand this
// same composition doubles (board/sim's GPIO lines, usbtest's bus), so
// what they show is what einwurfd does.
type machine struct {
	openBoard func(board.Profile) (board.Board, error)
	openUSB   func() (usb.Host, error)
	// tune adjusts the appliance's parts last; nil on a kiosk (tests
	// shorten the watchdog's times with it).
	tune func(*appliance.Parts)
}

// kioskMachine is the kiosk's own hardware.
var kioskMachine = machine{
	openBoard: board.Open,
	openUSB:   func() (usb.Host, error) { return usb.OpenLibUSB() },
}

// openBadges opens the staff badge reader the configuration names (nil:
// none, staff log in with a PIN): a Wiegand reader on the profile's D0/D1
// lines, next to the customers' imager. Its reads go to service mode only.
func openBadges(b board.Board, c config.Service, log *slog.Logger) (barcode.Reader, error) {
	switch c.BadgeReader {
	case "":
		return nil, nil
	case "wiegand":
		r, err := wiegand.Open(b, wiegand.Config{}, log)
		if err != nil {
			return nil, fmt.Errorf("service.badge_reader: %w", err)
		}
		return r, nil
	}
	return nil, fmt.Errorf("%w: service.badge_reader %q", config.ErrInvalid, c.BadgeReader)
}

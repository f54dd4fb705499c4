package appliance

import (
	"context"

	"github.com/einwurf/einwurf/drivers/usb"
)

// Events of the USB scanner's plug: the alarm "scanner.unplugged" and the
// notice "scanner.plugged", each with the device's bus id (no personal
// data).
const (
	eventScannerUnplugged = "scanner.unplugged"
	eventScannerPlugged   = "scanner.plugged"
)

// watchUSB tells the central when an IPP-USB scanner is unplugged and
// plugged back, until ctx ends (Close waits for it, so no event leaves
// after the appliance stopped).
func (a *Appliance) watchUSB(ctx context.Context, host usb.Host) {
	for ev := range usb.Watch(ctx, host, 0, usb.Desc.IsIPP) {
		if ev.Kind == usb.Removed {
			a.Alarm(eventScannerUnplugged, ev.Desc.ID())
		} else {
			a.Notice(eventScannerPlugged, ev.Desc.ID())
		}
	}
}

package ingest

import (
	"context"
	"log/slog"
	"time"

	"github.com/einwurf/einwurf/central/store"
	"github.com/einwurf/einwurf/wire"
)

// AlarmStorage is the alarm code of a packet the central could not file
// because of its own storage; it is raised for the kiosk that sent it.
const AlarmStorage = "ingest.storage"

// RaiseStorageAlarms returns a Config.OnFault that raises (or bumps) the
// alarm AlarmStorage in alarms, naming the packet id only; the alarm shows
// on the dashboard like the kiosks' own. The store may suffer from the same
// fault (no descriptors left): a raise that fails is tried again in the
// background every half second for up to 30 s, until ctx ends.
func RaiseStorageAlarms(ctx context.Context, alarms store.Alarms, log *slog.Logger, now func() time.Time) func(kioskID, packetID string, err error) {
	if now == nil {
		now = time.Now
	}
	raise := func(kioskID, packetID string) error {
		t := now().UTC()
		_, err := alarms.RaiseAlarm(ctx, store.Alarm{KioskID: kioskID, Code: AlarmStorage, Severity: wire.SeverityAlarm,
			Detail: "packet " + packetID + " waits: the central cannot store it", FirstSeen: t, LastSeen: t, Count: 1})
		return err
	}
	return func(kioskID, packetID string, _ error) {
		if raise(kioskID, packetID) == nil {
			return
		}
		go func() {
			for range 60 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(500 * time.Millisecond):
				}
				if raise(kioskID, packetID) == nil {
					return
				}
			}
			if log != nil {
				log.Error("ingest: cannot raise the storage alarm", "kiosk", kioskID, "packet", packetID)
			}
		}()
	}
}

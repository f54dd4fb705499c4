package appliance

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/einwurf/einwurf/drivers/barcode"
)

// scanRetry is the pause after a reader's error before the next Read:
// from min, doubling up to max; a good read starts it over.
type scanRetry struct{ min, max time.Duration }

// defaultScanRetry is the kiosk's: 100 ms, doubling up to 5 s.
var defaultScanRetry = scanRetry{min: 100 * time.Millisecond, max: 5 * time.Second}

// readScans reads r until ctx ends or r is closed (barcode.ErrClosed),
// handing each scan to use. A Read error (a Wiegand reader on lines that
// cannot be requested again, any reader's failure) does not end it: it is
// logged without content and the next Read follows after a pause that
// doubles up to retry.max, so a reader that keeps failing is no hot loop
// and one that recovers is read again. what names the reader in the log.
func readScans(ctx context.Context, log *slog.Logger, what string, r barcode.Reader, retry scanRetry, use func(barcode.Scan)) {
	var pause time.Duration
	for {
		s, err := r.Read(ctx)
		switch {
		case ctx.Err() != nil || errors.Is(err, barcode.ErrClosed):
			return
		case err != nil:
			pause = min(max(2*pause, retry.min), retry.max)
			log.Warn("einwurfd: reader failed; reading again", "reader", what, "err", err, "pause", pause)
			t := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		pause = 0
		use(s)
	}
}

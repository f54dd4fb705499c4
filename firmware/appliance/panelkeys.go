package appliance

import (
	"context"
	"errors"
	"log/slog"

	"github.com/einwurf/einwurf/board"
)

// panelKeys watches the board's panel keys (beside the headphone jack) for
// the UI, by their signal names; nil when the board has none.
func panelKeys(ctx context.Context, b board.Board, log *slog.Logger) <-chan string {
	if b == nil {
		return nil
	}
	presses, err := board.WatchKeys(ctx, b)
	if errors.Is(err, board.ErrNoSignal) {
		log.Info("appliance: the board profile maps no panel keys")
		return nil
	}
	if err != nil {
		log.Warn("appliance: panel keys", "err", err)
		return nil
	}
	out := make(chan string)
	go func() {
		defer close(out)
		for k := range presses {
			select {
			case out <- string(k):
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

package appliance

import (
	"io"
	"log/slog"
)

// NewLogger is the appliance's logger: text lines to w, debug lines only
// when verbose. Both composition roots use it, so the kiosk and its
// simulation log alike.
func NewLogger(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

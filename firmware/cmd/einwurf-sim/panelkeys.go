package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/einwurf/einwurf/board"
)

// keyBody presses one of the panel keys beside the headphone jack.
type keyBody struct {
	Key board.Signal `json:"key"` // "key_next", "key_repeat", ...
}

// pressKey presses and releases a panel key on the simulated board, as a
// customer's finger would; the kiosk's page gets it as on a kiosk.
func (s *simulation) pressKey(w http.ResponseWriter, r *http.Request) {
	var b keyBody
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&b); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if !slices.Contains(board.PanelKeys, b.Key) {
		http.Error(w, "not a panel key", http.StatusBadRequest)
		return
	}
	brd := s.board.Load() // pressed and released on one board, should a reboot come between
	if err := brd.DriveAsserted(b.Key, true); err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	time.Sleep(board.KeyDebounce) // held a moment, as a finger does
	if err := brd.DriveAsserted(b.Key, false); err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

package main

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/einwurf/einwurf/drivers/barcode"
	barcodesim "github.com/einwurf/einwurf/drivers/barcode/sim"
)

// readerBody sets the simulated barcode reader's health: "ok", "absent",
// "offline" or "fault", with an optional reason key.
type readerBody struct {
	State  barcode.State `json:"state"`
	Reason string        `json:"reason,omitempty"`
}

// driveReader sets the simulated customers' barcode reader's health, so
// the dashboard's reader column, its alarm, service mode's reader line and
// the customer screen's keypad hint can be seen in make run.
func (s *simulation) driveReader(w http.ResponseWriter, r *http.Request) {
	var b readerBody
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&b); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := s.reader.SetHealth(b.State, b.Reason); errors.Is(err, barcodesim.ErrState) {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	} else if err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

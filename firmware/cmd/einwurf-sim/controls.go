package main

import (
	"encoding/json"
	"net/http"

	"github.com/einwurf/einwurf/board"
)

// controls is the simulation's own HTTP surface, served by the kiosk UI
// under /sim/ (loopback only, JSON only) and only in simulation: it plays
// what a person does to the devices. Every simulation-only route is
// registered here.
func (s *simulation) controls() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /sim/api/board", s.driveBoard)
	mux.HandleFunc("GET /sim/{$}", simPage)
	mux.HandleFunc("GET /sim/scanner", simPage)
	mux.HandleFunc("GET /sim/scanner.js", simPage)
	mux.HandleFunc("GET /sim/api/scanner", s.scannerState)
	mux.HandleFunc("POST /sim/api/scanner", s.driveScanner)
	mux.HandleFunc("POST /sim/api/scanner/power", s.scannerPower)
	mux.HandleFunc("POST /sim/api/badge", s.driveBadge)
	mux.HandleFunc("POST /sim/api/key", s.pressKey)
	mux.HandleFunc("POST /sim/api/reader", s.driveReader)
	mux.HandleFunc("GET /sim/board.js", boardScript)
	return mux
}

// boardBody drives one of the simulated board's inputs.
type boardBody struct {
	Signal   board.Signal `json:"signal"`   // e.g. "service_key", "tamper"
	Asserted bool         `json:"asserted"` // turned, opened
}

// driveBoard sets a simulated board input, as turning the service key or
// opening the case would.
func (s *simulation) driveBoard(w http.ResponseWriter, r *http.Request) {
	var b boardBody
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&b); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if b.Signal != board.ServiceKey && b.Signal != board.Tamper {
		http.Error(w, "only service_key and tamper are inputs a person drives", http.StatusBadRequest)
		return
	}
	if err := s.board.Load().DriveAsserted(b.Signal, b.Asserted); err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

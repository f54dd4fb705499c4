package main

import (
	"encoding/json"
	"net/http"
)

// setPower switches the simulated scanner off (its eSCL server stops, so
// the kiosk's client finds nobody there, as with a scanner switched off
// or its cable pulled) or on again (the same profile starts afresh, faults
// cleared, as after a power cycle).
func (s *simScanner) setPower(on bool) error {
	s.mu.Lock()
	off, srv := s.off, s.srv
	s.mu.Unlock()
	switch {
	case on && off:
		if err := s.switchProfile(srv.Profile().Name); err != nil {
			return err
		}
		s.mu.Lock()
		s.off = false
		s.mu.Unlock()
		s.log.Info("einwurf-sim: scanner switched on")
	case !on && !off:
		s.mu.Lock()
		s.off = true
		s.mu.Unlock()
		if err := srv.Close(); err != nil {
			return err
		}
		s.log.Info("einwurf-sim: scanner switched off")
	}
	return nil
}

// powered reports whether the simulated scanner is switched on.
func (s *simScanner) powered() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.off
}

// powerBody switches the simulated scanner.
type powerBody struct {
	On bool `json:"on"`
}

// scannerPower switches the simulated scanner off or on.
func (s *simulation) scannerPower(w http.ResponseWriter, r *http.Request) {
	var b powerBody
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&b); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := s.scanner.setPower(b.On); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]bool{"on": s.scanner.powered()})
}

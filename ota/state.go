package ota

import (
	"encoding/json"
	"fmt"
	"path"
	"time"

	"github.com/einwurf/einwurf/ota/durable"
	"github.com/einwurf/einwurf/wire"
)

// State is the update machine's persisted state.
type State struct {
	Phase     string `json:"phase"` // a wire.Update* state; "" when idle
	RolloutID string `json:"rollout_id,omitempty"`
	Target    string `json:"target,omitempty"`
	Version   string `json:"version,omitempty"`
	Kind      string `json:"kind,omitempty"`
	// Slot is the slot being written or tried; FromSlot and FromVersion
	// the good one it replaces.
	Slot        string `json:"slot,omitempty"`
	FromSlot    string `json:"from_slot,omitempty"`
	FromVersion string `json:"from_version,omitempty"`
	Reason      string `json:"reason,omitempty"`
	// Reported is the phase last reported to the central.
	Reported string    `json:"reported,omitempty"`
	Updated  time.Time `json:"updated"`
}

// Done reports whether no update is under way.
func (s State) Done() bool {
	switch s.Phase {
	case "", wire.UpdateCommitted, wire.UpdateRolledBack, wire.UpdateRefused:
		return true
	}
	return false
}

func loadState(fsys durable.FS, dir string) (State, error) {
	b, err := fsys.ReadFile(path.Join(dir, "state.json"))
	if durable.IsNotExist(err) {
		return State{}, nil
	}
	if err != nil {
		return State{}, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("ota: state: %w", err)
	}
	return s, nil
}

func saveState(fsys durable.FS, dir string, s State) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return durable.WriteFile(fsys, path.Join(dir, "state.json"), b)
}

package escl

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/einwurf/einwurf/drivers/scanner"
)

// statesJSON says which scanner error each device state stands for.
//
//go:embed states/states.json
var statesJSON []byte

// stateErrors name the scanner errors the state table may use.
var stateErrors = map[string]error{
	"jam": scanner.ErrJam, "double-feed": scanner.ErrDoubleFeed, "cover-open": scanner.ErrCoverOpen,
	"feeder-empty": scanner.ErrFeederEmpty, "page-too-long": scanner.ErrPageTooLong,
}

// stateTable is the parsed state table.
type stateTable struct {
	adf     map[string]error
	reasons []reasonMatch
}

type reasonMatch struct {
	contains string
	err      error
}

// deviceStates is the embedded table. A broken one (statesErr, which
// TestStateTable checks) maps no state to an error.
var deviceStates, statesErr = parseStates(statesJSON)

// parseStates decodes a state table; an unknown error name or an empty
// match is refused.
func parseStates(data []byte) (stateTable, error) {
	var raw struct {
		Comment string            `json:"_comment"`
		Adf     map[string]string `json:"adf_states"`
		Reasons []struct {
			Contains string `json:"contains"`
			Error    string `json:"error"`
		} `json:"job_reasons"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return stateTable{}, fmt.Errorf("escl: state table: %w", err)
	}
	t := stateTable{adf: map[string]error{}}
	for state, name := range raw.Adf {
		e, ok := stateErrors[name]
		if !ok || state == "" {
			return stateTable{}, fmt.Errorf("escl: state table: %q names unknown error %q", state, name)
		}
		t.adf[state] = e
	}
	for _, r := range raw.Reasons {
		e, ok := stateErrors[r.Error]
		if !ok || r.Contains == "" || r.Contains != strings.ToLower(r.Contains) {
			return stateTable{}, fmt.Errorf("escl: state table: job reason %q → %q", r.Contains, r.Error)
		}
		t.reasons = append(t.reasons, reasonMatch{r.Contains, e})
	}
	return t, nil
}

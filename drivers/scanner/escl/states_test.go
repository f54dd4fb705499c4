package escl

import (
	"errors"
	"testing"

	"github.com/einwurf/einwurf/drivers/scanner"
)

func TestStateTable(t *testing.T) {
	if statesErr != nil {
		t.Fatal(statesErr)
	}
	for _, c := range []struct {
		reasons []string
		want    error
	}{
		{[]string{"AdfDuplexPageTooLong"}, scanner.ErrPageTooLong},
		{[]string{"ScannerAdfDuplexPageTooLong"}, scanner.ErrPageTooLong},
		{[]string{"AdfMultipickDetected"}, scanner.ErrDoubleFeed},
		{[]string{"AdfJam"}, scanner.ErrJam},
		{[]string{"AdfCoverOpen"}, scanner.ErrCoverOpen},
		{[]string{"JobCanceledByUser", "media-empty"}, scanner.ErrFeederEmpty},
		{[]string{"ResourcesAreNotReady"}, nil},
	} {
		if got := jobReasonError(c.reasons); got != c.want {
			t.Errorf("jobReasonError(%v) = %v, want %v", c.reasons, got, c.want)
		}
	}
	for name, doc := range map[string]string{
		"unknown error": `{"adf_states": {"ScannerAdfJam": "explodes"}}`,
		"empty match":   `{"job_reasons": [{"contains": "", "error": "jam"}]}`,
		"upper case":    `{"job_reasons": [{"contains": "Jam", "error": "jam"}]}`,
		"unknown field": `{"adf": {}}`,
		"not json":      `{`,
	} {
		if _, err := parseStates([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Every sentinel the table may name is reachable from some state.
	for name, e := range stateErrors {
		found := false
		for _, got := range deviceStates.adf {
			found = found || errors.Is(got, e)
		}
		if !found {
			t.Errorf("no AdfState maps to %s", name)
		}
	}
}

package mosquittotest

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/einwurf/einwurf/internal/testtool"
)

// Need skips t when mosquitto is not installed, and fails it under CI=true.
func Need(t testing.TB) {
	t.Helper()
	if _, err := Binary(); err != nil {
		testtool.SkipOrFail(t, "mosquitto not installed: %v", err)
	}
}

// StartTest starts a broker with a new PKI under dir for t, stopped when t
// ends. Without mosquitto (or its dynamic-security plugin) it skips t, and
// fails it under CI=true.
func StartTest(t testing.TB, dir string) (*PKI, *Broker) {
	t.Helper()
	pki, err := NewPKI(filepath.Join(dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Start(Options{Dir: filepath.Join(dir, "broker"), PKI: pki})
	if errors.Is(err, ErrNotInstalled) {
		testtool.SkipOrFail(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Stop)
	return pki, b
}

package mosquittotest

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

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
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Stop)
	return pki, b
}

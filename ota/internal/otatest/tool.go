// Package otatest holds what the tests of ota's packages share.
package otatest

import (
	"os"
	"os/exec"
	"testing"
)

// NeedTool returns the path of an outside program a test runs, skipping the
// test when it is missing, or failing it under CI=true.
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (required under CI)", name)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// Package testtool helps tests that check their results with programs no
// one here wrote (zbarimg, dmtxread, qpdf, …).
package testtool

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// NeedTool returns the path of an external program the tests check their
// output with, skipping the test when it is missing, or failing it under
// CI=true, where every such program must be installed.
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		SkipOrFail(t, "%s not installed", name)
	}
	return p
}

// SkipOrFail is the one answer to "something a test needs is not on this
// machine": outside CI it skips the test with the message; under CI=true,
// where every program, package and image the tests need must be there, it
// fails the test.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (required under CI=true)")
	}
	t.Skip(msg)
}

// ShotDir is the folder a test writes pictures for a person to look at:
// $EINWURF_SCREENSHOTS/name when that variable is set (created), else a
// temporary folder of the test.
func ShotDir(t testing.TB, name string) string {
	t.Helper()
	base := os.Getenv("EINWURF_SCREENSHOTS")
	if base == "" {
		return t.TempDir()
	}
	dir := filepath.Join(base, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// CPUTime is the process's user and system CPU time so far: benchmarks
// compare it with a peer program's, which a loaded machine disturbs far
// less than wall time.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// WaitFor polls cond until it holds, failing the test after d with what
// it waited for. Tests wait for a condition with it instead of sleeping a
// while; d is generous (a loaded machine, emulated arm64), since a
// condition that holds ends the wait at once.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Within(d, cond) {
		t.Fatalf("timed out after %v waiting for %s", d, what)
	}
}

// Within polls cond every 20 ms until it holds (true) or d has passed
// (false), for a test that says more than WaitFor when it does not.
func Within(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

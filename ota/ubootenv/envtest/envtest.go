// Package envtest reads a U-Boot environment with the real fw_printenv
// (Debian's libubootenv-tool), for tests that check what ota/ubootenv
// wrote. A missing fw_printenv skips the test outside CI and fails it
// under CI=true (testtool.NeedTool).
package envtest

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/einwurf/einwurf/internal/testtool"
)

// Printenv returns the environment fw_printenv reads through the
// fw_env.config file conf.
func Printenv(tb testing.TB, conf string) map[string]string {
	tb.Helper()
	out, err := exec.Command(testtool.NeedTool(tb, "fw_printenv"), "-c", conf).CombinedOutput()
	if err != nil {
		tb.Fatalf("fw_printenv: %v\n%s", err, out)
	}
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(l, "=")
		m[k] = v
	}
	return m
}

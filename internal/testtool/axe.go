package testtool

import (
	"os"
	"path/filepath"
	"testing"
)

// AxeSource returns axe-core (tools/npm/node_modules/axe-core/axe.min.js,
// installed by .ci/npm), found from the test's folder upwards, for browser
// tests to inject into the page. Missing, it skips the test, or fails it
// under CI=true.
func AxeSource(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "tools", "npm", "node_modules", "axe-core", "axe.min.js"))
		if err == nil {
			return string(b)
		}
		if _, gerr := os.Stat(filepath.Join(dir, "go.mod")); gerr == nil || filepath.Dir(dir) == dir {
			break
		}
		dir = filepath.Dir(dir)
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("axe-core is missing (required under CI; npm ci --prefix tools/npm)")
	}
	t.Skip("axe-core not installed (npm ci --prefix tools/npm)")
	return ""
}

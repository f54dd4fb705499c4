package testpage

import (
	"testing"

	"github.com/einwurf/einwurf/internal/testtool"
)

// NeedTool is testtool.NeedTool.
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	return testtool.NeedTool(t, name)
}

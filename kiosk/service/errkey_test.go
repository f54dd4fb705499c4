package service

import (
	"fmt"
	"testing"

	"github.com/einwurf/einwurf/drivers/scanner"
)

// A sheet too long for the feeder is named to the staff as such, not as
// an unknown fault.
func TestPageTooLongNamed(t *testing.T) {
	if k := errKey(fmt.Errorf("escl: %w", scanner.ErrPageTooLong)); k != "page-too-long" {
		t.Fatalf("errKey = %q", k)
	}
}

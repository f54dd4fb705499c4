// Package printertest checks that a printer.Printer reports the faults a
// customer must be told about with the right typed errors.
package printertest

import (
	"context"
	"errors"
	"testing"

	"github.com/einwurf/einwurf/drivers/printer"
)

// Faults are the printer states that must stop a receipt, with the error
// each must give.
var Faults = []struct {
	Status printer.Status
	Err    error
}{
	{printer.Status{PaperOut: true}, printer.ErrPaperOut},
	{printer.Status{CoverOpen: true}, printer.ErrCoverOpen},
	{printer.Status{}, printer.ErrOffline},
}

// CheckFaults puts the printer behind p into each of Faults with set and
// checks that printer.Ready and p.Print fail with the fault's error.
func CheckFaults(t *testing.T, p printer.Printer, set func(printer.Status), r printer.Receipt) {
	t.Helper()
	ctx := context.Background()
	for _, f := range Faults {
		set(f.Status)
		if err := printer.Ready(ctx, p); !errors.Is(err, f.Err) {
			t.Errorf("Ready with %+v = %v, want %v", f.Status, err, f.Err)
		}
		if err := p.Print(ctx, r); !errors.Is(err, f.Err) {
			t.Errorf("Print with %+v = %v, want %v", f.Status, err, f.Err)
		}
	}
}

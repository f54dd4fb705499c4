package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/drivers/scanner/escl"
	"github.com/einwurf/einwurf/drivers/scanner/sim"
	"github.com/einwurf/einwurf/firmware/config"
)

// The configuration's scanner stall time and quirk rules reach the eSCL
// client; a rule that matches nothing is refused.
func TestOpenScannerFromConfig(t *testing.T) {
	s, err := sim.Start(sim.Options{Profile: "freeze", Sheets: 3, Resolution: 150, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, _, err := openScanner(config.Scanner{URL: s.URL(), Quirks: []escl.QuirkRule{{Source: "matches nothing"}}}, kioskMachine.openUSB); !errors.Is(err, escl.ErrQuirks) {
		t.Fatalf("a rule matching nothing: %v", err)
	}
	sc, _, err := openScanner(config.Scanner{URL: s.URL(), Stall: config.Duration(2 * time.Second)}, kioskMachine.openUSB)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	j, err := sc.Scan(ctx, scanner.Settings{Resolution: 150})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	start := time.Now()
	for {
		p, err := j.Next(ctx)
		if err == nil {
			_, err = io.Copy(io.Discard, p.Body)
			_ = p.Body.Close()
			if err == nil {
				continue // sheet 1 comes whole; sheet 2 freezes
			}
		}
		if !errors.Is(err, scanner.ErrStalled) {
			t.Fatalf("frozen device: %v", err)
		}
		break
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("stall found after %v, configured 2s", d)
	}
}

package ssiengine_test

import (
	"context"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/barcode"
	"github.com/einwurf/einwurf/drivers/barcode/imager"
	"github.com/einwurf/einwurf/vm/ssiengine"
)

// TestReaderHealthAgainstEngine: the kiosk's imager asks this engine
// (which acknowledges a revision request as it does every host command)
// and finds it answering; with nobody on the engine's side it is offline
// (no answer); when the engine's end goes away, offline (the port failed);
// closed, offline (closed).
func TestReaderHealthAgainstEngine(t *testing.T) {
	ask := func(r *imager.Reader) barcode.Health {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		h, err := r.Health(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	// Generous where the engine answers (a loaded or emulated machine);
	// short where nobody does, the time-out being what is tested.
	cfg := imager.Config{Mode: imager.ModeSSI, ProbeTimeout: time.Minute}

	engineSide, hostSide := pair(t)
	e := ssiengine.New(engineSide, quiet)
	r, err := imager.New(&port{Conn: hostSide}, nil, nil, cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if h := ask(r); h != (barcode.Health{State: barcode.StateOK, Reason: barcode.ReasonAnswered, Asked: true}) {
		t.Fatalf("engine there: %+v", h)
	}
	e.Close()
	deadline := time.Now().Add(20 * time.Second)
	for h := ask(r); h != (barcode.Health{State: barcode.StateOffline, Reason: barcode.ReasonPortError}); h = ask(r) {
		if time.Now().After(deadline) {
			t.Fatalf("engine gone: %+v", h)
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.Close()
	if h := ask(r); h != (barcode.Health{State: barcode.StateOffline, Reason: barcode.ReasonClosed}) {
		t.Fatalf("closed: %+v", h)
	}

	_, hostSide2 := pair(t) // the engine's end is open, nobody answers
	r2, err := imager.New(&port{Conn: hostSide2}, nil, nil, imager.Config{Mode: imager.ModeSSI, ProbeTimeout: 200 * time.Millisecond}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if h := ask(r2); h != (barcode.Health{State: barcode.StateOffline, Reason: barcode.ReasonNoAnswer, Asked: true}) {
		t.Fatalf("silent engine: %+v", h)
	}
}

package escl_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/drivers/scanner/escl"
	"github.com/einwurf/einwurf/drivers/scanner/sim"
)

// profileJob is one scan job in a profile's run.
type profileJob struct {
	faults sim.Faults
	sheets int
	duplex bool
	pages  int   // pages the job yields before it ends
	err    error // how it ends; nil is the normal end (io.EOF)
}

// TestProfiles drives the client through every device profile of the
// simulator, and asserts the pages each job yields and how it ends: no page
// lost as an end, no end read as an error.
func TestProfiles(t *testing.T) {
	cases := map[string][]profileJob{
		"spec": {
			{sheets: 3, duplex: true, pages: 6},
			{sheets: 3, duplex: true, faults: sim.Faults{JamAtSheet: 2}, pages: 2, err: scanner.ErrJam},
			{sheets: 3, faults: sim.Faults{CoverOpenAtSheet: 3}, pages: 2, err: scanner.ErrCoverOpen},
			{sheets: 3, faults: sim.Faults{StopAtSheet: 2}, pages: 1, err: scanner.ErrStopped},
			{sheets: 3, duplex: true, faults: sim.Faults{PageTooLongAtSheet: 2}, pages: 2, err: scanner.ErrPageTooLong},
		},
		// Defect 1: 409 after the last page is the end, not an empty feeder.
		"end409": {
			{sheets: 3, pages: 3},
			{sheets: 2, duplex: true, pages: 4},
			{sheets: 3, faults: sim.Faults{JamAtSheet: 2}, pages: 1, err: scanner.ErrJam},
		},
		// Defect 3: an empty 200 is no page; the aborted job is an error,
		// the door state tells which.
		"jam200": {
			{sheets: 3, pages: 3},
			{sheets: 3, faults: sim.Faults{JamAtSheet: 2}, pages: 1, err: scanner.ErrJam},
			{sheets: 3, faults: sim.Faults{CoverOpenAtSheet: 2}, pages: 1, err: scanner.ErrCoverOpen},
			{sheets: 3, faults: sim.Faults{DoubleFeedAtSheet: 1}, pages: 0, err: scanner.ErrDoubleFeed},
			{sheets: 3, faults: sim.Faults{StopAtSheet: 3}, pages: 2, err: scanner.ErrStopped},
			// The reason names no fault: the feeder's state says too long.
			{sheets: 3, faults: sim.Faults{PageTooLongAtSheet: 1}, pages: 0, err: scanner.ErrPageTooLong},
		},
		"ignores": {
			{sheets: 3, duplex: true, pages: 3}, // simplex whatever was asked
		},
		"absolute": {
			{sheets: 2, duplex: true, pages: 4},
			{sheets: 1, pages: 1},
		},
		// Defect 2: a connection closed without an answer is offline.
		"crash2": {
			{sheets: 2, pages: 2},
			{sheets: 2, pages: 0, err: scanner.ErrOffline},
			{sheets: 2, pages: 2},
		},
		// Defect 4: a device that stops sending mid-page is stalled.
		"freeze": {
			{sheets: 3, pages: 1, err: scanner.ErrStalled},
		},
	}
	for _, name := range sim.Profiles() {
		if _, ok := cases[name]; !ok {
			t.Errorf("profile %q has no case", name)
		}
	}
	for name, jobs := range cases {
		t.Run(name, func(t *testing.T) {
			s := startSim(t, sim.Options{Profile: name, Duplex: true, Resolution: 150})
			if p := s.Profile(); p.Name != name {
				t.Fatalf("profile %q, want %q", p.Name, name)
			}
			c := escl.New(&http.Client{}, s.URL(), fast, escl.WithTimeouts(escl.Timeouts{Stall: 2 * time.Second}))
			ctx := ctxT(t, 60*time.Second)
			for i, pj := range jobs {
				s.Load(pj.sheets)
				f := s.Profile().Faults
				if pj.faults != (sim.Faults{}) {
					f = pj.faults
				}
				s.SetFaults(f)
				j, err := c.Scan(ctx, scanner.Settings{Duplex: pj.duplex, Resolution: 150, ColorMode: scanner.ColorGrayscale8})
				if err != nil {
					t.Fatalf("job %d: Scan: %v", i, err)
				}
				start := time.Now()
				n, err := drainChecked(ctx, t, j)
				_ = j.Close()
				if n != pj.pages {
					t.Errorf("job %d: %d pages, want %d", i, n, pj.pages)
				}
				switch {
				case pj.err == nil && err != nil:
					t.Errorf("job %d: ended with %v, want the normal end", i, err)
				case pj.err != nil && !errors.Is(err, pj.err):
					t.Errorf("job %d: ended with %v, want %v", i, err, pj.err)
				case err != nil && (errors.Is(err, io.EOF) || scanner.IsEnd(err)):
					t.Errorf("job %d: the error %v reads as the end of the job", i, err)
				}
				if time.Since(start) > 20*time.Second {
					t.Errorf("job %d took %v", i, time.Since(start))
				}
			}
		})
	}
}

// drainChecked reads a job to its end like drain, and checks every page
// decodes as an image (no empty body handed out as a page).
func drainChecked(ctx context.Context, t *testing.T, j scanner.Job) (int, error) {
	t.Helper()
	return drainEach(ctx, j, func(n int, data []byte) {
		if _, _, err := image.DecodeConfig(bytes.NewReader(data)); err != nil {
			t.Errorf("page %d (%d bytes) does not decode: %v", n, len(data), err)
		}
	})
}

// The ignoring profile sends colour when grey was asked; pages still come.
func TestProfileIgnoresColour(t *testing.T) {
	s := startSim(t, sim.Options{Profile: "ignores", Duplex: true, Sheets: 1, Resolution: 150})
	c := escl.New(&http.Client{}, s.URL(), fast)
	ctx := ctxT(t, 30*time.Second)
	j, err := c.Scan(ctx, scanner.Settings{Resolution: 150, ColorMode: scanner.ColorGrayscale8})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	p, err := j.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(p.Body)
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := img.(*image.YCbCr); !ok {
		t.Errorf("page is %T, want the colour the device sends anyway", img)
	}
}

// A request without an answer within its deadline is ErrStalled, and the
// DELETE on Close has a deadline of its own (generous here: the device
// answers it at once, and a loaded machine must not fail it).
func TestRequestDeadline(t *testing.T) {
	s := startSim(t, sim.Options{Sheets: 2, Resolution: 150, PageDelay: 5 * time.Second})
	c := escl.New(&http.Client{}, s.URL(), fast, escl.WithTimeouts(escl.Timeouts{Page: 200 * time.Millisecond, Cancel: 10 * time.Second}))
	ctx := ctxT(t, 30*time.Second)
	j, err := c.Scan(ctx, scanner.Settings{Resolution: 150})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = j.Next(ctx)
	if !errors.Is(err, scanner.ErrStalled) || scanner.IsEnd(err) {
		t.Fatalf("Next on a silent device: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("stall found after %v", d)
	}
	if err := j.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if s.Canceled() != 1 {
		t.Errorf("%d jobs cancelled on the device, want 1", s.Canceled())
	}
	if !slices.Contains(sim.Profiles(), "spec") {
		t.Error("no spec profile")
	}
}

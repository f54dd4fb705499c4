package wiegand

import (
	"testing"
	"time"

	"github.com/einwurf/einwurf/board"
)

// BenchmarkDecode26 measures 26-bit frames per second through the decoder
// (52 edges each); a reader sends at most a few per second.
func BenchmarkDecode26(b *testing.B) {
	d, err := NewDecoder(Config{})
	if err != nil {
		b.Fatal(err)
	}
	evs := synth("10111101110110010011011101", 0, 50*time.Microsecond, 2*time.Millisecond)
	edges := make([]board.Edge, len(evs))
	for i, e := range evs {
		idx := 0
		if e.Signal == board.WiegandD1 {
			idx = 1
		}
		edges[i] = board.Edge{Index: idx, Level: e.Level, Time: time.Unix(0, 0).Add(e.At)}
	}
	start := time.Now()
	frames := 0
	for b.Loop() {
		for _, e := range edges {
			d.Push(e)
		}
		if res, done := d.Flush(); !done || res.Err != nil {
			b.Fatalf("frame: %+v", res)
		}
		frames++
	}
	b.ReportMetric(float64(frames)/time.Since(start).Seconds(), "frames/s")
}

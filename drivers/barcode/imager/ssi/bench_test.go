package ssi

import (
	"testing"
	"time"
)

// BenchmarkSplitDecode measures frames per second cut out of a byte stream
// and checked.
func BenchmarkSplitDecode(b *testing.B) {
	var s Splitter
	b.SetBytes(int64(len(decode128)))
	start := time.Now()
	frames := 0
	for b.Loop() {
		for _, c := range decode128 {
			if f, _ := s.Push(c); f != nil {
				if _, err := Decode(f); err != nil {
					b.Fatal(err)
				}
				frames++
			}
		}
	}
	b.ReportMetric(float64(frames)/time.Since(start).Seconds(), "frames/s")
}

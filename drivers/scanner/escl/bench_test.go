package escl_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/drivers/scanner/escl"
	"github.com/einwurf/einwurf/drivers/scanner/scannertest"
	"github.com/einwurf/einwurf/drivers/scanner/sim"
)

// heapPeak samples HeapInuse until stopped and returns the largest value.
func heapPeak() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); wg.Wait(); return peak.Load() }
}

// BenchmarkScan measures pages per second through the client from the
// simulator (300 dpi colour JPEG, duplex, about 0.6 MB a page) and the peak
// heap while doing it, for 10, 200 and 1000 pages: the peak must not grow with
// the page count. The simulator serves pre-rendered pages from memory, so
// the figure is the client's (and loopback HTTP's) ceiling.
func BenchmarkScan(b *testing.B) {
	for _, pages := range []int{10, 200, 1000} {
		b.Run(fmt.Sprintf("pages=%d", pages), func(b *testing.B) {
			s, err := sim.Start(sim.Options{Duplex: true, Code: "035F083761", BlankBacks: []int{2, 5}, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if err := s.Warm(sim.Settings{Source: "Feeder", Duplex: true, Resolution: 300, ColorMode: "RGB24", Format: "image/jpeg"}); err != nil {
				b.Fatal(err)
			}
			c := escl.New(&http.Client{}, s.URL())
			ctx := context.Background()
			st := scanner.Settings{Duplex: true, Resolution: 300, ColorMode: scanner.ColorRGB24, Format: scanner.FormatJPEG}
			buf := make([]byte, 32<<10)
			runtime.GC()
			var base runtime.MemStats
			runtime.ReadMemStats(&base)
			stop := heapPeak()
			var total, bytes int64
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				s.Load(pages / 2)
				j, err := c.Scan(ctx, st)
				if err != nil {
					b.Fatal(err)
				}
				p, n, err := scannertest.Drain(ctx, j, buf, nil)
				if err != nil {
					b.Fatal(err)
				}
				total += p
				bytes += n
			}
			el := time.Since(start)
			b.StopTimer()
			peak := stop()
			if total != int64(pages*b.N) {
				b.Fatalf("%d pages, want %d", total, pages*b.N)
			}
			b.ReportMetric(float64(total)/el.Seconds(), "pages/s")
			b.ReportMetric(float64(bytes)/el.Seconds()/1e6, "MB/s")
			b.ReportMetric(float64(peak)/1e6, "peakMB")
			b.ReportMetric(float64(peak-min(peak, base.HeapInuse))/1e6, "peakAboveIdleMB")
		})
	}
}

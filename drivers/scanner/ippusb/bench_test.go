package ippusb_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/drivers/scanner/escl"
	"github.com/einwurf/einwurf/drivers/scanner/ippusb"
	"github.com/einwurf/einwurf/drivers/scanner/scannertest"
	"github.com/einwurf/einwurf/drivers/scanner/sim"
	"github.com/einwurf/einwurf/drivers/usb/usbtest"
)

// BenchmarkScanUSB runs the eSCL client over the transport and the fake
// USB device (16 KiB reads, 512-byte packets to the TCP stand-in) from the
// simulator at 300 dpi colour JPEG duplex, reporting pages/s and the peak
// heap for 10 and 200 pages.
func BenchmarkScanUSB(b *testing.B) {
	for _, pages := range []int{10, 200} {
		b.Run(fmt.Sprintf("pages=%d", pages), func(b *testing.B) {
			s, err := sim.Start(sim.Options{Duplex: true, Code: "035F083761", BlankBacks: []int{2}, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if err := s.Warm(sim.Settings{Source: "Feeder", Duplex: true, Resolution: 300, ColorMode: "RGB24", Format: "image/jpeg"}); err != nil {
				b.Fatal(err)
			}
			d, err := usbtest.NewDevice(s.Handler(), 2, 16<<10)
			if err != nil {
				b.Fatal(err)
			}
			defer d.Shutdown()
			tr, err := ippusb.New(d)
			if err != nil {
				b.Fatal(err)
			}
			c := escl.New(&http.Client{Transport: tr}, "http://localhost/eSCL")
			ctx := context.Background()
			st := scanner.Settings{Duplex: true, Resolution: 300}
			buf := make([]byte, 32<<10)
			runtime.GC()
			var peak uint64
			var ms runtime.MemStats
			var total, n int64
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				s.Load(pages / 2)
				j, err := c.Scan(ctx, st)
				if err != nil {
					b.Fatal(err)
				}
				p, m, err := scannertest.Drain(ctx, j, buf, func() {
					runtime.ReadMemStats(&ms)
					peak = max(peak, ms.HeapInuse)
				})
				if err != nil {
					b.Fatal(err)
				}
				total += p
				n += m
			}
			el := time.Since(start)
			b.StopTimer()
			if total != int64(pages*b.N) {
				b.Fatalf("%d pages, want %d", total, pages*b.N)
			}
			b.ReportMetric(float64(total)/el.Seconds(), "pages/s")
			b.ReportMetric(float64(n)/el.Seconds()/1e6, "MB/s")
			b.ReportMetric(float64(peak)/1e6, "peakMB")
		})
	}
}

package usbredir_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/drivers/scanner/escl"
	"github.com/einwurf/einwurf/drivers/scanner/ippusb"
	"github.com/einwurf/einwurf/drivers/scanner/sim"
	"github.com/einwurf/einwurf/drivers/usb"
	"github.com/einwurf/einwurf/vm/usbredir/ippscanner"
)

// BenchmarkPageOverRedirection scans 300 dpi pages through the whole
// redirection (the kiosk's ippusb and eSCL client over the guest double,
// usbredir on loopback TCP, the device's HTTP over its bulk pipes) and,
// in the same run, straight from the simulator over HTTP on loopback: MB/s
// of each and their ratio (redirected/direct).
func BenchmarkPageOverRedirection(b *testing.B) {
	s, err := sim.Start(sim.Options{Resolution: 300, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	g, stop := serveStop(b, ippscanner.New(s.Handler(), 2, "B", quiet))
	defer func() { _ = stop(); _ = g.Close() }()
	dev, err := g.Device(ctx, usb.IPPOverUSB)
	if err != nil {
		b.Fatal(err)
	}
	tr, err := ippusb.New(dev, ippusb.WithLogger(quiet))
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	redirected := escl.New(&http.Client{Transport: tr}, ippusb.BaseURL)
	direct := escl.New(http.DefaultClient, s.URL())
	page := func(c *escl.Client) int64 {
		s.Load(1)
		j, err := c.Scan(ctx, scanner.Settings{Resolution: 300})
		if err != nil {
			b.Fatal(err)
		}
		defer j.Close()
		p, err := j.Next(ctx)
		if err != nil {
			b.Fatal(err)
		}
		defer p.Body.Close()
		n, err := io.Copy(io.Discard, p.Body)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	page(direct) // the simulator renders and caches the page once
	var dRed, dDir time.Duration
	var bytes int64
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		bytes += page(redirected)
		t1 := time.Now()
		page(direct)
		dRed += t1.Sub(t0)
		dDir += time.Since(t1)
	}
	mb := float64(bytes) / 1e6
	b.ReportMetric(mb/dRed.Seconds(), "MB/s-redirected")
	b.ReportMetric(mb/dDir.Seconds(), "MB/s-direct")
	b.ReportMetric(dDir.Seconds()/dRed.Seconds(), "ratio")
	b.ReportMetric(0, "ns/op")
}

package sim_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/drivers/scanner/escl"
	"github.com/einwurf/einwurf/drivers/scanner/sim"
)

// Example shows how einwurf-sim wires the simulator to the real client.
func Example() {
	srv, err := sim.Start(sim.Options{Sheets: 3, Duplex: true, Code: "035F083761", BlankBacks: []int{2},
		Resolution: 150, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	var sc scanner.Scanner = escl.New(&http.Client{}, srv.URL())
	ctx := context.Background()
	job, err := sc.Scan(ctx, scanner.Settings{Duplex: true, Resolution: 150, ColorMode: scanner.ColorGrayscale8})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer job.Close()
	for {
		p, err := job.Next(ctx)
		if err != nil {
			fmt.Println(err)
			break
		}
		_, _ = io.Copy(io.Discard, p.Body)
		_ = p.Body.Close()
		fmt.Println(p.Sheet, p.Side, p.Format, p.Width, p.Height)
	}
	srv.Load(1) // paper for the next customer
	fmt.Println(srv.Feeder())
	// Output:
	// 1 front image/jpeg 1240 1754
	// 1 back image/jpeg 1240 1754
	// 2 front image/jpeg 1240 1754
	// 2 back image/jpeg 1240 1754
	// 3 front image/jpeg 1240 1754
	// 3 back image/jpeg 1240 1754
	// EOF
	// 1
}

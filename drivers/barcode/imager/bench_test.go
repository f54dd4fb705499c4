package imager

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/barcode/imager/ssi"
)

// BenchmarkSSIOverPTY measures codes per second through a pseudo-terminal
// with the engine waiting for each ACK, as a real engine does; the serial
// line of a real engine (9600-115200 baud) is far slower.
func BenchmarkSSIOverPTY(b *testing.B) {
	m, slave := openPTY(b)
	port, err := OpenSerial(slave, Config{Baud: 115200})
	if err != nil {
		b.Fatal(err)
	}
	r, err := New(port, nil, nil, Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	frame, _ := ssi.Encode(ssi.Packet{Opcode: ssi.OpDecodeData, Data: []byte("\x03035F083761")})
	ack := make([]byte, len(ssi.ACK()))
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if _, err := m.Write(frame); err != nil {
			b.Fatal(err)
		}
		if _, err := r.Read(ctx); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(m, ack); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "codes/s")
}

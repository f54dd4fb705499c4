package imager

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/barcode/imager/ssi"
)

// BenchmarkSSIOverPTY measures codes per second through a pseudo-terminal
// with the engine waiting for each ACK, as a real engine does; the serial
// line of a real engine (9600-115200 baud) is far slower.
func BenchmarkSSIOverPTY(b *testing.B) {
	m, r := ptyReader(b)
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

// BenchmarkHealthOverPTY measures one Health probe (REQUEST_REVISION out,
// REPLY_REVISION back) through a pseudo-terminal: what the appliance's
// reader loop spends every 2 s; a real engine at 9600 baud adds about
// 20 ms of line time for the two short frames.
func BenchmarkHealthOverPTY(b *testing.B) {
	m, r := ptyReader(b)
	reply := replyRevision()
	req := make([]byte, len(revisionRequest))
	go func() {
		for {
			if _, err := io.ReadFull(m, req); err != nil {
				return
			}
			if _, err := m.Write(reply); err != nil {
				return
			}
		}
	}()
	ctx := context.Background()
	for b.Loop() {
		if h, err := r.Health(ctx); err != nil || !h.OK() {
			b.Fatalf("health %+v, %v", h, err)
		}
	}
}

// ptyReader is an SSI reader at 115200 baud on a pseudo-terminal whose
// engine side is m; it is closed when b ends.
func ptyReader(b *testing.B) (m *os.File, r *Reader) {
	m, slave := openPTY(b)
	port, err := OpenSerial(slave, Config{Baud: 115200})
	if err != nil {
		b.Fatal(err)
	}
	r, err = New(port, nil, nil, Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	return m, r
}

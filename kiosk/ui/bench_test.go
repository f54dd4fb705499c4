package ui

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/drivers/scanner/escl"
	"github.com/einwurf/einwurf/drivers/scanner/sim"
	"github.com/einwurf/einwurf/kiosk/document"
	"github.com/einwurf/einwurf/kiosk/session"
)

// durable is a Submitter that does with the PDF what the outbox must at
// least do before the customer is told: write it whole and fsync it.
type durable struct {
	dir  string
	size int64
}

func (d *durable) Submit(_ context.Context, doc session.Document) (session.Receipt, error) {
	b, err := os.ReadFile(doc.PDF)
	if err != nil {
		return session.Receipt{}, err
	}
	if err := writeSynced(filepath.Join(d.dir, "out.pdf"), b); err != nil {
		return session.Receipt{}, err
	}
	d.size = int64(len(b))
	return session.Receipt{PacketID: "p", Number: "ABCD-1234-EF56", Accepted: time.Now()}, nil
}

func writeSynced(path string, b []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// BenchmarkSendToReceipt20Pages is the customer's tap on "Absenden" to the
// receipt screen's data, for 20 pages scanned at 300 dpi in colour: the
// POST /api/confirm round trip (PDF of the kept pages, hash, hand-over to
// a Submitter that writes and fsyncs it). Compared in the same run with
// writing and fsyncing the same document alone (the floor of "nothing
// lost"). Aim: under 300 ms.
func BenchmarkSendToReceipt20Pages(b *testing.B) {
	srv, err := sim.Start(sim.Options{Sheets: 10, Duplex: true, Resolution: 300})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	sub := &durable{dir: b.TempDir()}
	k, err := session.New(session.Config{Scanner: escl.New(&http.Client{}, srv.URL()), Submitter: sub,
		WorkDir:  filepath.Join(b.TempDir(), "visits"),
		Settings: scanner.Settings{Source: scanner.SourceFeeder, Duplex: true, Resolution: 300, ColorMode: scanner.ColorRGB24, Format: scanner.FormatJPEG},
		Document: document.DefaultOptions()})
	if err != nil {
		b.Fatal(err)
	}
	h := New(Config{Kiosk: k})
	defer h.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := &httptest.Server{Listener: ln, Config: &http.Server{Handler: h}}
	s.Start()
	defer s.Close()

	var send, floor time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		srv.Load(10)
		if err := k.Identify("035F083761"); err != nil {
			b.Fatal(err)
		}
		if err := k.Scan(context.Background()); err != nil {
			b.Fatal(err)
		}
		if v := k.View(); v.Scanned != 20 || v.Kept != 20 {
			b.Fatalf("scanned %d, kept %d", v.Scanned, v.Kept)
		}
		b.StartTimer()
		start := time.Now()
		r, err := http.Post(s.URL+"/api/confirm", "application/json", strings.NewReader("{}"))
		if err != nil {
			b.Fatal(err)
		}
		var v session.View
		json.NewDecoder(r.Body).Decode(&v)
		r.Body.Close()
		send += time.Since(start)
		if r.StatusCode != http.StatusOK || v.State != session.Done || v.Receipt == nil {
			b.Fatalf("confirm: %d %s", r.StatusCode, v.State)
		}
		b.StopTimer()
		doc, _ := os.ReadFile(filepath.Join(sub.dir, "out.pdf"))
		start = time.Now()
		if err := writeSynced(filepath.Join(sub.dir, "floor.pdf"), doc); err != nil {
			b.Fatal(err)
		}
		floor += time.Since(start)
		k.Cancel()
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(float64(send.Milliseconds())/n, "ms/send")
	b.ReportMetric(float64(floor.Microseconds())/1000/n, "ms/fsync-copy")
	b.ReportMetric(float64(send)/float64(floor), "x-fsync-copy")
	b.ReportMetric(float64(sub.size)/1e6, "MB/document")
}

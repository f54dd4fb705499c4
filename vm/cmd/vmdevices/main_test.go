package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/barcode/imager/ssi"
	"github.com/einwurf/einwurf/drivers/scanner/escl"
	"github.com/einwurf/einwurf/drivers/scanner/ippusb"
	"github.com/einwurf/einwurf/drivers/scanner/sim"
	"github.com/einwurf/einwurf/drivers/usb"
	"github.com/einwurf/einwurf/vm/usbredir/usbredirtest"
)

// TestServe: a board (the usbredir guest double, a plain socket for the
// UART) reaches the scanner's capabilities over usbredir and receives the
// code the command line asks for as an SSI DECODE_DATA frame.
func TestServe(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := sim.Start(sim.Options{Sheets: 1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ls, err := loopback("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ls.Close()
	li, err := loopback("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer li.Close()
	if _, err := loopback("0.0.0.0:0"); err == nil {
		t.Fatal("a non-loopback address was accepted")
	}
	codes := make(chan string, 1)
	go serve(ctx, quiet, s, ls, li, codes)

	c, err := net.Dial("tcp", ls.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	g, err := usbredirtest.Dial(ctx, c, usbredirtest.GuestCaps)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	dev, err := g.Device(ctx, usb.IPPOverUSB)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := ippusb.New(dev, ippusb.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if caps, err := escl.New(&http.Client{Transport: tr}, ippusb.BaseURL).Capabilities(ctx); err != nil || caps.MakeAndModel == "" {
		t.Fatalf("capabilities %+v: %v", caps, err)
	}

	u, err := net.Dial("tcp", li.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if err := command("code 035F083761", s, codes); err != nil {
		t.Fatal(err)
	}
	if err := command("sheets x", s, codes); err == nil {
		t.Fatal("a bad command was accepted")
	}
	var sp ssi.Splitter
	buf := make([]byte, 64)
	_ = u.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		n, err := u.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range buf[:n] {
			if f, _ := sp.Push(b); f != nil {
				p, err := ssi.Decode(f)
				if err != nil || p.Opcode != ssi.OpDecodeData || string(p.Data[1:]) != "035F083761" {
					t.Fatalf("frame %+v %v", p, err)
				}
				_, _ = u.Write(ssi.ACK())
				return
			}
		}
	}
}

// Package ippscanner is an IPP-over-USB scanner as a usbredir.Device: n
// interfaces of class 7/1/4 (printer, printer, IPP over USB), each with a
// bulk OUT and bulk IN endpoint carrying one HTTP/1.1 connection to an eSCL
// server (the project's simulator, drivers/scanner/sim, on the host), as
// the kiosk's drivers/usb and drivers/scanner/ippusb expect of a real one.
package ippscanner

import (
	"crypto/sha256"
	"hash"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/einwurf/einwurf/vm/usbredir"
)

// USB identity: pid.codes' vendor for open projects and its test product
// id; no quirk of drivers/scanner/escl matches it.
const (
	Vendor  = 0x1209
	Product = 0x0001
)

// New returns the device: n interfaces (IPP over USB asks for at least
// two) serving h.
func New(h http.Handler, n int, serial string, log *slog.Logger) *usbredir.Device {
	d := &usbredir.Device{
		Vendor: Vendor, Product: Product, Release: 0x0100,
		Manufacturer: "Einwurf", Name: "Simulated IPP-USB Scanner", Serial: serial,
		DeviceID: "MFG:Einwurf;MDL:Simulated IPP-USB Scanner;CMD:ESCL;CLS:SCANNER;",
	}
	for range n {
		d.Interfaces = append(d.Interfaces, usbredir.Interface{Class: 7, SubClass: 1, Protocol: 4, Open: usbredir.HTTPFunction(h, log)})
	}
	return d
}

// Pages records the SHA-256 of every page body (an eSCL NextDocument
// answer with status 200) a handler serves, so a test can check that the
// bytes which arrived in the guest are those the simulator sent.
type Pages struct {
	mu   sync.Mutex
	sums [][32]byte
}

// Wrap returns h recording into p.
func (p *Pages) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/NextDocument") {
			h.ServeHTTP(w, r)
			return
		}
		rw := &hashWriter{ResponseWriter: w, h: sha256.New(), status: http.StatusOK}
		h.ServeHTTP(rw, r)
		if rw.status == http.StatusOK {
			p.mu.Lock()
			p.sums = append(p.sums, [32]byte(rw.h.Sum(nil)))
			p.mu.Unlock()
		}
	})
}

// Sums are the recorded pages' SHA-256 sums, in the order served.
func (p *Pages) Sums() [][32]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.sums)
}

type hashWriter struct {
	http.ResponseWriter
	h      hash.Hash
	status int
}

func (w *hashWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *hashWriter) Write(b []byte) (int, error) {
	w.h.Write(b)
	return w.ResponseWriter.Write(b)
}

// Flush passes flushes on (the simulator streams pages).
func (w *hashWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

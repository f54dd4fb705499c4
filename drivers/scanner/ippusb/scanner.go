package ippusb

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/drivers/scanner/escl"
	"github.com/einwurf/einwurf/drivers/usb"
)

// BaseURL is the eSCL root over IPP-over-USB. The host name is what
// ipp-usb and the devices expect; the request never leaves the cable.
const BaseURL = "http://localhost/eSCL"

// Scanner is a scanner.Scanner for the first IPP-over-USB device on a host
// that match accepts (all if nil). It opens the device on first use. After
// the device is unplugged every call fails with scanner.ErrUnplugged until
// it is plugged back in; the next call then opens it afresh.
type Scanner struct {
	host  usb.Host
	match func(usb.Desc) bool
	topts []Option
	eopts []escl.Option

	mu  sync.Mutex
	dev usb.Device
	tr  *Transport
	c   *escl.Client
}

var _ scanner.Scanner = (*Scanner)(nil)

// NewScanner returns a Scanner; topts configure the transport and eopts
// the eSCL client.
func NewScanner(host usb.Host, match func(usb.Desc) bool, topts []Option, eopts ...escl.Option) *Scanner {
	return &Scanner{host: host, match: match, topts: topts, eopts: eopts}
}

// dropLocked forgets the current device. Callers hold s.mu.
func (s *Scanner) dropLocked() error {
	var err error
	if s.tr != nil {
		_ = s.tr.Close()
	}
	if s.dev != nil {
		err = s.dev.Close()
	}
	s.dev, s.tr, s.c = nil, nil, nil
	return err
}

// Client returns the eSCL client for the device, opening it if needed.
func (s *Scanner) Client(ctx context.Context) (*escl.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c != nil {
		select {
		case <-s.tr.Gone():
			_ = s.dropLocked()
		default:
			return s.c, nil
		}
	}
	ds, err := s.host.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("ippusb: list: %w: %w", scanner.ErrOffline, err)
	}
	var last error
	for _, d := range usb.FindIPP(ds) {
		if s.match != nil && !s.match(d) {
			continue
		}
		dev, err := s.host.Open(ctx, d)
		if err != nil {
			last = err
			continue
		}
		tr, err := New(dev, s.topts...)
		if err != nil {
			_ = dev.Close()
			last = err
			continue
		}
		s.dev, s.tr = dev, tr
		s.c = escl.New(&http.Client{Transport: tr}, BaseURL, s.eopts...)
		return s.c, nil
	}
	if last != nil {
		return nil, fmt.Errorf("ippusb: open scanner: %w: %w", scanner.ErrOffline, last)
	}
	return nil, fmt.Errorf("ippusb: no IPP-over-USB scanner: %w", scanner.ErrUnplugged)
}

// Capabilities implements scanner.Scanner.
func (s *Scanner) Capabilities(ctx context.Context) (scanner.Capabilities, error) {
	c, err := s.Client(ctx)
	if err != nil {
		return scanner.Capabilities{}, err
	}
	return c.Capabilities(ctx)
}

// Status implements scanner.Scanner.
func (s *Scanner) Status(ctx context.Context) (scanner.Status, error) {
	c, err := s.Client(ctx)
	if err != nil {
		return scanner.Status{}, err
	}
	return c.Status(ctx)
}

// Scan implements scanner.Scanner.
func (s *Scanner) Scan(ctx context.Context, st scanner.Settings) (scanner.Job, error) {
	c, err := s.Client(ctx)
	if err != nil {
		return nil, err
	}
	return c.Scan(ctx, st)
}

// Close releases the device.
func (s *Scanner) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropLocked()
}

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

	mu   sync.Mutex
	desc usb.Desc // the device opened
	dev  usb.Device
	tr   *Transport
	c    *escl.Client
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
		rules := s.rules()
		q := escl.QuirksOf(rules, escl.Identity{USB: d.ID()})
		if err := s.openLocked(ctx, d, q, rules); err != nil {
			last = err
			continue
		}
		// Some USB quirks are known by make and model only: read the
		// capabilities, and open again if the device needs more.
		if _, cq, err := s.c.RawCapabilities(ctx); err == nil &&
			(cq.USBResetAtOpen && !q.USBResetAtOpen || cq.USBMaxInterfaces > 0 && cq.USBMaxInterfaces < s.tr.Interfaces()) {
			_ = s.dropLocked()
			if err := s.openLocked(ctx, d, cq, rules); err != nil {
				last = err
				continue
			}
		}
		return s.c, nil
	}
	if last != nil {
		return nil, fmt.Errorf("ippusb: open scanner: %w: %w", scanner.ErrOffline, last)
	}
	return nil, fmt.Errorf("ippusb: no IPP-over-USB scanner: %w", scanner.ErrUnplugged)
}

// rules are the quirk rules the transport options name (default
// escl.KnownQuirks()).
func (s *Scanner) rules() []escl.QuirkRule {
	probe := &Transport{rules: escl.KnownQuirks()}
	for _, o := range s.topts {
		o(probe)
	}
	return probe.rules
}

// openLocked opens d with the USB quirks q: a reset first (and a fresh
// open, since a reset drops the claimed interfaces), at most as many
// interfaces as q allows. Callers hold s.mu.
func (s *Scanner) openLocked(ctx context.Context, d usb.Desc, q escl.Quirks, rules []escl.QuirkRule) error {
	dev, err := s.host.Open(ctx, d)
	if err != nil {
		return err
	}
	if q.USBResetAtOpen {
		rerr := dev.Reset()
		_ = dev.Close()
		if rerr != nil {
			return fmt.Errorf("ippusb: reset at open: %w", rerr)
		}
		if dev, err = s.host.Open(ctx, d); err != nil {
			return err
		}
	}
	tr, err := New(dev, append(s.topts, WithMaxInterfaces(q.USBMaxInterfaces))...)
	if err != nil {
		_ = dev.Close()
		return err
	}
	s.dev, s.tr, s.desc = dev, tr, d
	eopts := append([]escl.Option{escl.WithQuirkRules(rules), escl.WithUSBID(d.ID())}, s.eopts...)
	s.c = escl.New(&http.Client{Transport: tr}, BaseURL, eopts...)
	return nil
}

// Capabilities implements scanner.Scanner.
func (s *Scanner) Capabilities(ctx context.Context) (scanner.Capabilities, error) {
	c, err := s.Client(ctx)
	if err != nil {
		return scanner.Capabilities{}, err
	}
	s.mu.Lock()
	release := s.desc.ReleaseText()
	s.mu.Unlock()
	caps, err := c.Capabilities(ctx)
	if err == nil && caps.Firmware == "" {
		caps.Firmware = release
	}
	return caps, err
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

// Interfaces is how many IPP-over-USB interfaces the open device is used
// over (0 when none is open).
func (s *Scanner) Interfaces() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tr == nil {
		return 0
	}
	return s.tr.Interfaces()
}

// Close releases the device.
func (s *Scanner) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropLocked()
}

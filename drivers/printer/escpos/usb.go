package escpos

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/einwurf/einwurf/drivers/printer"
	"github.com/einwurf/einwurf/drivers/usb"
)

// USB printer class requests (USB Printing Devices 1.1, section 4.2).
const (
	// ReqTypeClassIn is bmRequestType of the class requests that answer:
	// device to host, class, interface.
	ReqTypeClassIn = 0xa1
	// ReqGetPortStatus is GET_PORT_STATUS; wIndex is the interface number,
	// one byte comes back.
	ReqGetPortStatus = 1
)

// USB is an ESC/POS receipt printer on a USB printer-class interface
// (7/1/2): print data over bulk OUT, real-time status answers over bulk IN,
// the port status over the control endpoint. It opens the first matching
// printer on the bus when it needs one, and again after an unplug.
type USB struct {
	host    usb.Host
	match   func(usb.Desc) bool
	profile Profile
	timeout time.Duration

	mu   sync.Mutex
	dev  usb.Handle
	pipe usb.Pipe
}

var _ printer.Printer = (*USB)(nil)

// Option configures a USB printer.
type Option func(*USB)

// WithProfile sets the paper profile (default DefaultProfile).
func WithProfile(p Profile) Option { return func(u *USB) { u.profile = p } }

// WithMatch restricts which devices count as the printer (default: any
// device with a bidirectional printer interface).
func WithMatch(m func(usb.Desc) bool) Option { return func(u *USB) { u.match = m } }

// WithTimeout bounds each transfer (default 2 s).
func WithTimeout(d time.Duration) Option { return func(u *USB) { u.timeout = d } }

// NewUSB returns the printer on host. It opens nothing yet.
func NewUSB(host usb.Host, opts ...Option) *USB {
	u := &USB{host: host, profile: DefaultProfile(), timeout: 2 * time.Second}
	for _, o := range opts {
		o(u)
	}
	return u
}

// Profile returns the paper profile the printer encodes receipts for.
func (u *USB) Profile() Profile { return u.profile }

// Close releases the printer's interface.
func (u *USB) Close() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.dropLocked()
}

func (u *USB) dropLocked() error {
	if u.dev == nil {
		return nil
	}
	err := u.dev.Close()
	u.dev, u.pipe = nil, nil
	return err
}

// openLocked claims the printer interface if it is not claimed yet.
func (u *USB) openLocked(ctx context.Context) error {
	if u.dev != nil {
		return nil
	}
	ds, err := u.host.List(ctx)
	if err != nil {
		return fmt.Errorf("escpos: list: %w: %w", printer.ErrOffline, err)
	}
	last := usb.ErrNotFound
	for _, d := range ds {
		if !d.Has(usb.PrinterBidirectional) || u.match != nil && !u.match(d) {
			continue
		}
		h, err := u.host.Claim(ctx, d, usb.PrinterBidirectional)
		if err != nil {
			last = err
			continue
		}
		ps := h.Pipes()
		if len(ps) == 0 {
			_ = h.Close()
			last = usb.ErrNoInterface
			continue
		}
		u.dev, u.pipe = h, ps[0]
		return nil
	}
	return fmt.Errorf("escpos: no printer: %w: %w", printer.ErrOffline, last)
}

// fail turns a transfer error into the printer's view, dropping the device
// when it is gone.
func (u *USB) fail(what string, err error) error {
	if errors.Is(err, usb.ErrUnplugged) {
		_ = u.dropLocked()
	}
	return fmt.Errorf("escpos: %s: %w: %w", what, printer.ErrOffline, err)
}

// Status implements printer.Printer: the port status over the control
// endpoint says paper out or a fault; the real-time status over the bulk
// pair says which (cover open) and whether the roll is near its end. Either
// alone is enough; when neither answers, the printer is offline.
func (u *USB) Status(ctx context.Context) (printer.Status, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.statusLocked(ctx)
}

func (u *USB) statusLocked(ctx context.Context) (printer.Status, error) {
	if err := u.openLocked(ctx); err != nil {
		return printer.Status{}, err
	}
	port, perr := u.portStatus(ctx)
	if errors.Is(perr, usb.ErrUnplugged) {
		return printer.Status{}, u.fail("port status", perr)
	}
	rt, rerr := u.realtime(ctx)
	switch {
	case rerr == nil:
		if perr == nil && port.PaperOut {
			rt.PaperOut, rt.Online = true, false
		}
		return rt, nil
	case perr == nil:
		return port, nil
	}
	return printer.Status{}, u.fail("status", errors.Join(perr, rerr))
}

func (u *USB) portStatus(ctx context.Context) (printer.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, u.timeout)
	defer cancel()
	var b [1]byte
	n, err := u.dev.Control(ctx, ReqTypeClassIn, ReqGetPortStatus, 0, uint16(u.pipe.Interface().Number), b[:])
	if err != nil {
		return printer.Status{}, err
	}
	return ParsePortStatus(b[:n])
}

func (u *USB) realtime(ctx context.Context) (printer.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, u.timeout)
	defer cancel()
	if _, err := u.pipe.WriteContext(ctx, RealtimeQuery()); err != nil {
		return printer.Status{}, err
	}
	got := make([]byte, 0, len(RealtimeRequests))
	buf := make([]byte, 512)
	for len(got) < len(RealtimeRequests) {
		n, err := u.pipe.ReadContext(ctx, buf)
		if err != nil {
			return printer.Status{}, err
		}
		got = append(got, buf[:n]...)
	}
	return ParseRealtime(got)
}

// Print implements printer.Printer. It checks the status, sends the
// receipt and checks again: paper that ran out during the receipt is
// reported as ErrPaperOut, so the kiosk knows the customer holds no
// complete receipt.
func (u *USB) Print(ctx context.Context, r printer.Receipt) error {
	data, err := Encode(r, u.profile)
	if err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	st, err := u.statusLocked(ctx)
	if err != nil {
		return err
	}
	if err := st.Err(); err != nil {
		return fmt.Errorf("escpos: %w", err)
	}
	const chunk = 4096
	for len(data) > 0 {
		n := min(chunk, len(data))
		tctx, cancel := context.WithTimeout(ctx, u.timeout)
		w, err := u.pipe.WriteContext(tctx, data[:n])
		cancel()
		if err != nil {
			return u.fail("print", err)
		}
		data = data[w:]
	}
	st, err = u.statusLocked(ctx)
	if err != nil {
		return err
	}
	if err := st.Err(); err != nil {
		return fmt.Errorf("escpos: after printing: %w", err)
	}
	return nil
}

//go:build vm

package vm_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/scanner/sim"
	"github.com/einwurf/einwurf/vm/ssiengine"
	"github.com/einwurf/einwurf/vm/usbredir"
	"github.com/einwurf/einwurf/vm/usbredir/ippscanner"
)

// The simulated devices (vm/devices.md), played on the host and attached
// to the board as their real protocols; vm/cmd/vmprobe reads them in the
// guest through the kiosk's own drivers.

var quiet = slog.New(slog.DiscardHandler)

// listen opens a loopback listener for a chardev QEMU connects to.
func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// usbScanner plays the IPP-USB scanner, plugged in from the start: the
// eSCL simulator behind a usbredir host on a loopback port, and the QEMU
// arguments that attach it (qemu-xhci, usb-redir on a socket chardev QEMU
// connects to). It records the pages the simulator served.
func usbScanner(t *testing.T) ([]string, *ippscanner.Pages) {
	t.Helper()
	s := redirScanner(t)
	s.plug()
	return s.args, s.pages
}

// scannerPort is the IPP-USB scanner on its usb-redir chardev, plugged in
// and out by the host: QEMU connects the chardev at its start and its
// usb-redir device waits, with nothing on the board's bus, until the
// usbredir peer connects a device (plug: hello, device infos,
// device_connect); unplug sends device_disconnect and closes the chardev.
type scannerPort struct {
	args   []string          // QEMU's arguments (board.extra)
	pages  *ippscanner.Pages // the pages the simulator served
	plug   func()            // plugs the scanner in (once)
	unplug func()            // pulls it out (once, after plug)
}

// redirScanner is the scanner's usbredir peer, not yet plugged in.
func redirScanner(t *testing.T) *scannerPort {
	t.Helper()
	s, err := sim.Start(sim.Options{Sheets: 2, Resolution: 150, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	pages := &ippscanner.Pages{}
	dev := ippscanner.New(pages.Wrap(s.Handler()), 2, "VM-1", quiet)
	log := slog.New(slog.NewTextHandler(newTestWriter(t, "usbredir host"), &slog.HandlerOptions{Level: slog.LevelDebug}))
	l := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	plugged := make(chan struct{})
	var plugOnce sync.Once
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- err
			return
		}
		select {
		case <-plugged:
		case <-ctx.Done():
			_ = c.Close()
			done <- nil
			return
		}
		done <- usbredir.Serve(ctx, c, dev, log)
	}()
	t.Cleanup(func() {
		cancel()
		_ = l.Close() // if QEMU never connected
		select {
		case err := <-done:
			if err != nil && !strings.Contains(err.Error(), "use of closed") {
				t.Errorf("usbredir: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("usbredir host did not end")
		}
	})
	port := l.Addr().(*net.TCPAddr).Port
	return &scannerPort{
		args: []string{"-device", "qemu-xhci,id=xhci",
			"-chardev", fmt.Sprintf("socket,id=usbredir0,host=127.0.0.1,port=%d", port),
			"-device", "usb-redir,chardev=usbredir0,bus=xhci.0"},
		pages:  pages,
		plug:   func() { plugOnce.Do(func() { close(plugged) }) },
		unplug: cancel,
	}
}

// testWriter keeps the usbredir host's log and writes it to the test's
// log only if the test fails.
type testWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func newTestWriter(t *testing.T, name string) *testWriter {
	w := &testWriter{}
	t.Cleanup(func() {
		if t.Failed() {
			w.mu.Lock()
			t.Logf("%s:\n%s", name, w.b.String())
			w.mu.Unlock()
		}
	})
	return w
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

var pageRE = regexp.MustCompile(`^einwurf-probe: page bytes=(\d+) sha256=([0-9a-f]{64})`)

// checkUSBScanner is priority 1 of the devices: the board's kernel
// enumerates the usbredir scanner on qemu-xhci, the probe finds it with the
// kiosk's drivers/usb (libusb), reads ScannerCapabilities and scans one
// page over drivers/scanner/ippusb, and the page's bytes are those the
// simulator on the host served.
func checkUSBScanner(t *testing.T, ev []event, pages *ippscanner.Pages) {
	if _, n := find(ev, "einwurf-probe: scan ok"); n != 1 {
		t.Fatalf("scan probe did not pass:\n%s", dump(ev))
	}
	c, _ := find(ev, "einwurf-probe: capabilities")
	if !strings.Contains(c.line, "Einwurf") {
		t.Fatalf("capabilities line %q", c.line)
	}
	p, _ := find(ev, "einwurf-probe: page ")
	m := pageRE.FindStringSubmatch(p.line)
	sums := pages.Sums()
	if m == nil || len(sums) != 1 || m[2] != fmt.Sprintf("%x", sums[0]) {
		t.Fatalf("page in the guest %q; the simulator served %x\n%s", p.line, sums, dump(ev))
	}
	u, _ := find(ev, "einwurf-probe: usb device")
	ok, _ := find(ev, "einwurf-probe: scan ok")
	t.Logf("%s; %s (%s bytes) at %.1f s from QEMU start; %s", u.line, c.line, m[1], ok.at.Seconds(), ok.line)
}

// imagerUART plays the 2D imager: an SSI engine (vm/ssiengine) on a socket
// chardev QEMU connects to, the backend of the board's imager UART (the
// harness's pci-serial, which Debian's kernel drives with its built-in
// 8250_pci). As soon as QEMU connects it presents code, retransmitting
// until the guest's reader acknowledges. It returns the chardev backend
// (board.imager).
func imagerUART(t *testing.T, code string) string {
	t.Helper()
	return imagerUARTOn(t, code, nil)
}

// imagerUARTOn is imagerUART presenting code only once present is closed
// (nil: at once).
func imagerUARTOn(t *testing.T, code string, present <-chan struct{}) string {
	t.Helper()
	l := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- err
			return
		}
		e := ssiengine.New(c, quiet)
		defer e.Close()
		if present != nil {
			select {
			case <-present:
			case <-ctx.Done():
				done <- nil
				return
			}
		}
		done <- e.Present(ctx, code, ssiengine.TypeCode128)
	}()
	t.Cleanup(func() {
		cancel()
		_ = l.Close()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("imager: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("imager did not end")
		}
	})
	port := l.Addr().(*net.TCPAddr).Port
	return fmt.Sprintf("socket,host=127.0.0.1,port=%d", port)
}

func dump(ev []event) string {
	var s strings.Builder
	for _, e := range ev {
		fmt.Fprintf(&s, "%6.1fs %s\n", e.at.Seconds(), e.line)
	}
	return s.String()
}

// checkUARTImager is priority 2 of the devices: a customer number
// presented to the imager on the host arrives over the PCI UART, is read
// by the kiosk's drivers/barcode/imager in SSI mode and parsed by
// kiosk/ident. The probe prints only its kind, masked form and its HMAC
// under a key for this boot (a plain hash of a number could be reversed).
func checkUARTImager(t *testing.T, ev []event, number string, key []byte) {
	ok, n := find(ev, "einwurf-probe: barcode ok")
	if n != 1 {
		t.Fatalf("barcode probe did not pass:\n%s", dump(ev))
	}
	c, _ := find(ev, "einwurf-probe: code ")
	h := hmac.New(sha256.New, key)
	h.Write([]byte(number))
	want := fmt.Sprintf("einwurf-probe: code symbology=Code128 kind=Kundennummer masked=035F****61 hmac=%x", h.Sum(nil))
	if c.line != want {
		t.Fatalf("code line %q, want %q\n%s", c.line, want, dump(ev))
	}
	u, _ := find(ev, "einwurf-probe: imager on")
	t.Logf("%s; code at %.1f s from QEMU start; %s", u.line, c.at.Seconds(), ok.line)
}

// checkGPIOSimPanel is priority 3 of the devices: gpio-sim, built out of
// tree for Debian's kernel (vm/gpiosim/build.sh), loaded by the init; the
// probe configures a chip through configfs with the panel profile's line
// names, and the kiosk's board package and drivers/panel read the service
// key turned and returned on it and drive the lights.
func checkGPIOSimPanel(t *testing.T, ev []event) {
	ok, n := find(ev, "einwurf-probe: gpio ok")
	if n != 1 {
		t.Fatalf("gpio probe did not pass:\n%s", dump(ev))
	}
	for _, want := range []string{
		"einwurf-probe: gpio chip gpiochip", "einwurf-probe: panel event tamper_opened",
		"einwurf-probe: panel event tamper_closed", "einwurf-probe: panel event service_key_turned",
		"einwurf-probe: panel event service_key_returned", "einwurf-probe: light LIGHT_GREEN=true",
		"einwurf-probe: light LIGHT_RED=true", "einwurf-probe: light LIGHT_GREEN=false",
	} {
		if _, n := find(ev, want); n != 1 {
			t.Fatalf("no %q:\n%s", want, dump(ev))
		}
	}
	c, _ := find(ev, "einwurf-probe: gpio chip")
	t.Logf("%s; %s at %.1f s from QEMU start", c.line, ok.line, ok.at.Seconds())
}

// checkEinwurfdServiceKey: with vm_panel=gpiosim the init sets the chip up
// before einwurfd and gives it the gpio-sim panel's profile; a person
// turns the service key on the simulator while einwurfd runs, and einwurfd
// (board, drivers/panel, the appliance) opens service mode, which shows on
// the lights it drives (amber), and closes it when the key is returned.
func checkEinwurfdServiceKey(t *testing.T, ev []event) {
	for _, want := range []string{
		"einwurf-vm: panel on gpio-sim gpiochip", "einwurf-vm: service ready",
		"einwurf-vm: panel: before the key: LIGHT_AMBER=false",
		"einwurf-vm: panel: service key turned: LIGHT_AMBER=true",
		"einwurf-vm: panel: service key returned: LIGHT_AMBER=false",
	} {
		if _, n := find(ev, want); n != 1 {
			t.Fatalf("no %q:\n%s", want, dump(ev))
		}
	}
	on, _ := find(ev, "einwurf-vm: panel: service key turned")
	off, _ := find(ev, "einwurf-vm: panel: service key returned")
	t.Logf("%s; %s", on.line, off.line)
}

// TestDevices boots the board once with every simulated device attached
// (one boot keeps make vm-test short): the scanner on usb-redir, the
// imager on the UART's chardev presenting a Kundennummer, the probe run
// for all three (vm_probe) and the gpio-sim panel for einwurfd
// (vm_panel). Each device is then checked on the console by its subtest.
func TestDevices(t *testing.T) {
	const number = "035F083761" // a valid Kundennummer (kiosk/ident's tests)
	b := newBoard(t, "disk.img")
	args, pages := usbScanner(t)
	b.extra = args
	b.imager = imagerUART(t, number)
	key := make([]byte, 16)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	b.setenv("vm_after_ready", "poweroff", "vm_probe", fmt.Sprintf("scan barcode=%x gpio", key), "vm_panel", "gpiosim")
	start := time.Now()
	ev := b.run(limit)
	t.Logf("one boot with every device: %.1f s", time.Since(start).Seconds())
	t.Run("usb_scanner", func(t *testing.T) { checkUSBScanner(t, ev, pages) })
	t.Run("uart_imager", func(t *testing.T) { checkUARTImager(t, ev, number, key) })
	t.Run("gpio_sim_panel", func(t *testing.T) { checkGPIOSimPanel(t, ev) })
	t.Run("einwurfd_service_key", func(t *testing.T) { checkEinwurfdServiceKey(t, ev) })
}

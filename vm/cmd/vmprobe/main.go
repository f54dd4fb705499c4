// Command vmprobe runs inside the virtual kiosk board (vm/init starts it
// when the U-Boot environment sets vm_probe, before the service) and reads
// the simulated devices through the kiosk's own drivers, printing one
// "einwurf-probe: " line per result on the console for vm/devices_test.go:
//
//	vmprobe scan      the IPP-USB scanner (usb-redir on qemu-xhci) through
//	                  drivers/usb (libusb) and drivers/scanner/ippusb:
//	                  capabilities, then one page (its size and SHA-256)
//	vmprobe barcode[=KEY]  the 2D imager on the PCI UART (pci-serial)
//	                  through drivers/barcode/imager (SSI): one code, parsed
//	                  by kiosk/ident (its kind, masked form and, with a hex
//	                  KEY, its HMAC-SHA256 under KEY; never the number)
//	vmprobe gpio      the panel's lines on gpio-sim (vm/gpiosim, its
//	                  profile panel.json) through board and drivers/panel:
//	                  the service key's events, the lights' levels
//
// Several may be given; each runs in turn. The exit status is the number
// that failed.
package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/einwurf/einwurf/board"
	"github.com/einwurf/einwurf/drivers/barcode/imager"
	"github.com/einwurf/einwurf/drivers/panel"
	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/drivers/scanner/ippusb"
	"github.com/einwurf/einwurf/drivers/usb"
	"github.com/einwurf/einwurf/kiosk/ident"
	"github.com/einwurf/einwurf/vm/gpiosim"
)

func say(format string, args ...any) {
	fmt.Fprintf(os.Stdout, "einwurf-probe: "+format+"\n", args...)
}

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	failed := 0
	for _, arg := range os.Args[1:] {
		what, param, _ := strings.Cut(arg, "=")
		// Well inside the test's limit for the whole boot, so that a stuck
		// probe says so.
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
		start := time.Now()
		say("%s: start", what)
		var err error
		switch what {
		case "scan":
			err = scan(ctx, log)
		case "barcode":
			var key []byte
			if key, err = hex.DecodeString(param); err == nil {
				err = readBarcode(ctx, log, key)
			}
		case "gpio":
			err = gpio(ctx, log)
		default:
			err = fmt.Errorf("unknown probe %q", what)
		}
		cancel()
		if err != nil {
			failed++
			say("%s failed after %d ms: %v", what, time.Since(start).Milliseconds(), err)
			continue
		}
		say("%s ok after %d ms", what, time.Since(start).Milliseconds())
	}
	os.Exit(failed)
}

// scan waits for an IPP-over-USB device on libusb, reads its capabilities
// and scans one page, as einwurfd's scanner does.
func scan(ctx context.Context, log *slog.Logger) error {
	// The board runs no udevd, and Debian's libusb learns of devices
	// plugged after its start only from udev's events: a fresh libusb
	// context per look reads the bus (sysfs) anew.
	var host *usb.LibUSB
	var found usb.Desc
	for tries := 1; ; tries++ {
		h, err := usb.OpenLibUSB()
		if err != nil {
			return err
		}
		ds, err := h.List(ctx)
		if err != nil {
			h.Close()
			return err
		}
		if ipp := usb.FindIPP(ds); len(ipp) > 0 {
			host, found = h, ipp[0]
			say("scan: found after %d looks", tries)
			break
		}
		h.Close()
		select {
		case <-ctx.Done():
			return fmt.Errorf("no IPP-over-USB device among %d: %w", len(ds), ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	defer host.Close()
	say("usb device %s, %d IPP-over-USB interfaces", found.Socket(), len(found.IPP))
	sc := ippusb.NewScanner(host, usb.Desc.IsIPP, []ippusb.Option{ippusb.WithLogger(log)})
	defer sc.Close()
	caps, err := sc.Capabilities(ctx)
	if err != nil {
		return fmt.Errorf("capabilities: %w", err)
	}
	say("capabilities make=%q resolutions=%v duplex=%v firmware=%q", caps.MakeAndModel, caps.Resolutions, caps.Duplex, caps.Firmware)
	j, err := sc.Scan(ctx, scanner.Settings{Resolution: 150})
	if err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	defer j.Close()
	p, err := j.Next(ctx)
	if err != nil {
		return fmt.Errorf("page: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(h, p.Body)
	_ = p.Body.Close()
	if err != nil {
		return fmt.Errorf("page body after %d bytes: %w", n, err)
	}
	say("page bytes=%d sha256=%x", n, h.Sum(nil))
	return nil
}

// uart finds the PCI UART's tty (QEMU's pci-serial, vendor 0x1b36): the
// console's PL011 is ttyAMA0, the 8250 driver's ports are ttyS*.
func uart() (string, error) {
	ttys, _ := filepath.Glob("/sys/class/tty/ttyS*")
	for _, t := range ttys {
		v, err := os.ReadFile(filepath.Join(t, "device", "vendor"))
		if err == nil && strings.TrimSpace(string(v)) == "0x1b36" {
			return "/dev/" + filepath.Base(t), nil
		}
	}
	return "", fmt.Errorf("no PCI UART among %d ttyS ports", len(ttys))
}

// readBarcode reads one code from the imager on the PCI UART in SSI mode.
func readBarcode(ctx context.Context, log *slog.Logger, key []byte) error {
	path, err := uart()
	if err != nil {
		return err
	}
	say("imager on %s", path)
	cfg := imager.Config{Mode: imager.ModeSSI}
	port, err := imager.OpenSerial(path, cfg)
	if err != nil {
		return err
	}
	r, err := imager.New(port, nil, nil, cfg, log)
	if err != nil {
		port.Close()
		return err
	}
	defer r.Close()
	s, err := r.Read(ctx)
	if err != nil {
		return fmt.Errorf("read: %w (stats %+v)", err, r.Stats())
	}
	n, err := ident.Parse(s.Data)
	if err != nil {
		return fmt.Errorf("code of %d characters: %w", len(s.Data), err)
	}
	// A customer number has few enough values that a plain hash of it
	// could be reversed: the console gets an HMAC under the test's
	// one-time key (none given: only the masked form).
	mac := "none"
	if len(key) > 0 {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(n.String()))
		mac = hex.EncodeToString(h.Sum(nil))
	}
	say("code symbology=%s kind=%v masked=%s hmac=%s", s.Symbology, n.Kind(), n.Masked(), mac)
	return nil
}

// gpio brings up the panel's chip on gpio-sim with the line names of the
// profile gpiosim.Panel, opens it with the kiosk's board package and
// drivers/panel, and plays the outside world through the simulator: the
// case opened and closed, the service key turned and returned (the panel's
// events),
// and the lights the panel drives for Ready and OutOfService (the levels
// on the simulator's lines).
func gpio(ctx context.Context, log *slog.Logger) error {
	if err := unix.Mount("configfs", "/sys/kernel/config", "configfs", 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("mount configfs: %w", err)
	}
	p, err := gpiosim.Panel()
	if err != nil {
		return err
	}
	c, err := gpiosim.Setup(p, gpiosim.ConfigFS, gpiosim.Platform)
	if err != nil {
		return err
	}
	defer c.Close()
	say("gpio chip %s label=%s lines=%d", c.Name, c.Label, len(c.Lines))
	b, err := board.Open(p)
	if err != nil {
		return err
	}
	defer b.Close()
	pn, err := panel.Open(b, panel.Config{}, log)
	if err != nil {
		return err
	}
	run, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = pn.Run(run) }()
	// wait reads the panel's events until want, printing each.
	wait := func(want panel.EventKind) error {
		for {
			select {
			case e := <-pn.Events():
				say("panel event %s", e.Kind)
				if e.Kind == want {
					return nil
				}
			case <-ctx.Done():
				return fmt.Errorf("no %s: %w", want, ctx.Err())
			}
		}
	}
	// light waits until the simulator's line name shows on.
	light := func(name string, on bool) error {
		for {
			v, err := c.Value(name)
			if err != nil {
				return err
			}
			if v == on {
				say("light %s=%v", name, v)
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s not %v: %w", name, on, ctx.Err())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	steps := []func() error{
		func() error { return c.SetPull("TAMPER", false) }, // the case opened
		func() error { return wait(panel.TamperOpened) },
		func() error { return c.SetPull("TAMPER", true) },
		func() error { return wait(panel.TamperClosed) },
		func() error { return c.SetPull("SERVICE_KEY", false) },
		func() error { return wait(panel.ServiceKeyTurned) },
		func() error { return c.SetPull("SERVICE_KEY", true) },
		func() error { return wait(panel.ServiceKeyReturned) },
		func() error { return pn.SetState(panel.Ready) },
		func() error { return light("LIGHT_GREEN", true) },
		func() error { return pn.SetState(panel.OutOfService) },
		func() error { return light("LIGHT_RED", true) },
		func() error { return light("LIGHT_GREEN", false) },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	return nil
}

// Command vmdevices plays the virtual kiosk board's simulated devices on
// the host, as their real protocols (vm/devices.md):
//
//   - the IPP-USB scanner: the eSCL simulator (drivers/scanner/sim) behind
//     a usbredir host (vm/usbredir) that QEMU's usb-redir connects to;
//   - the 2D imager: an SSI engine (vm/ssiengine) on the chardev of the
//     board's imager UART.
//
// It listens on loopback only, prints the QEMU arguments that attach both
// ("qemu: ..." lines) and then reads commands on stdin, one a line:
//
//	code NUMBER     the imager decodes NUMBER (retransmitted until the
//	                kiosk acknowledges)
//	sheets N        N sheets in the scanner's feeder
//
// Example:
//
//	vmdevices -sheets 2 -code 035F083761 &   # prints the ports
//	VM_IMAGER=socket,host=127.0.0.1,port=PORT2 vm/run.sh bin/vm/disk.img \
//		-device qemu-xhci,id=xhci -chardev socket,id=usbredir0,host=127.0.0.1,port=PORT1 \
//		-device usb-redir,chardev=usbredir0,bus=xhci.0
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/einwurf/einwurf/drivers/scanner/sim"
	"github.com/einwurf/einwurf/vm/ssiengine"
	"github.com/einwurf/einwurf/vm/usbredir"
	"github.com/einwurf/einwurf/vm/usbredir/ippscanner"
)

func main() {
	scanAddr := flag.String("scanner", "127.0.0.1:0", "usbredir listen address (loopback)")
	imagerAddr := flag.String("imager", "127.0.0.1:0", "imager chardev listen address (loopback)")
	profile := flag.String("profile", "", "scanner profile (drivers/scanner/sim; default spec)")
	sheets := flag.Int("sheets", 2, "sheets in the feeder at start")
	code := flag.String("code", "", "a code the imager decodes as soon as the board connects")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, *scanAddr, *imagerAddr, *profile, *sheets, *code); err != nil {
		log.Error("vmdevices", "err", err)
		os.Exit(1)
	}
}

func loopback(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("%s is not a loopback address", addr)
	}
	return net.Listen("tcp", addr)
}

func run(ctx context.Context, log *slog.Logger, scanAddr, imagerAddr, profile string, sheets int, code string) error {
	s, err := sim.Start(sim.Options{Profile: profile, Sheets: sheets, Logger: log})
	if err != nil {
		return err
	}
	defer s.Close()
	ls, err := loopback(scanAddr)
	if err != nil {
		return err
	}
	defer ls.Close()
	li, err := loopback(imagerAddr)
	if err != nil {
		return err
	}
	defer li.Close()
	fmt.Printf("qemu: -device qemu-xhci,id=xhci -chardev socket,id=usbredir0,host=127.0.0.1,port=%d -device usb-redir,chardev=usbredir0,bus=xhci.0\n", ls.Addr().(*net.TCPAddr).Port)
	fmt.Printf("qemu: imager chardev socket,host=127.0.0.1,port=%d\n", li.Addr().(*net.TCPAddr).Port)
	codes := make(chan string, 8)
	if code != "" {
		codes <- code
	}
	go serve(ctx, log, s, ls, li, codes)
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case l, ok := <-lines:
			if !ok {
				<-ctx.Done() // stdin closed: keep serving until stopped
				return nil
			}
			if err := command(l, s, codes); err != nil {
				log.Warn("command", "err", err)
			}
		}
	}
}

// serve plays the scanner on ls and the imager on li until ctx ends,
// presenting the codes that come on codes.
func serve(ctx context.Context, log *slog.Logger, s *sim.Server, ls, li net.Listener, codes <-chan string) {
	dev := ippscanner.New(s.Handler(), 2, "VM-1", log)
	go func() { // one board at a time; a rebooted board connects again
		for {
			c, err := ls.Accept()
			if err != nil {
				return
			}
			if err := usbredir.Serve(ctx, c, dev, log); err != nil {
				log.Warn("usbredir", "err", err)
			}
		}
	}()
	var mu sync.Mutex
	var engine *ssiengine.Engine
	go func() {
		for {
			c, err := li.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if engine != nil {
				_ = engine.Close()
			}
			engine = ssiengine.New(c, log)
			mu.Unlock()
		}
	}()
	// Present codes to whichever board is connected.
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-codes:
			for {
				mu.Lock()
				e := engine
				mu.Unlock()
				if e != nil {
					pctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
					err := e.Present(pctx, c, ssiengine.TypeCode128)
					cancel()
					log.Info("imager: code presented", "len", len(c), "err", err)
					break
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		}
	}
}

var errUsage = errors.New(`commands: "code NUMBER", "sheets N"`)

func command(l string, s *sim.Server, codes chan<- string) error {
	f := strings.Fields(l)
	switch {
	case len(f) == 2 && f[0] == "code":
		select {
		case codes <- f[1]:
			return nil
		default:
			return errors.New("too many codes waiting")
		}
	case len(f) == 2 && f[0] == "sheets":
		n, err := strconv.Atoi(f[1])
		if err != nil || n < 0 {
			return errUsage
		}
		s.Load(n)
		return nil
	case len(f) == 0:
		return nil
	}
	return errUsage
}
